
prefilling"ë*	
2B	 Hë