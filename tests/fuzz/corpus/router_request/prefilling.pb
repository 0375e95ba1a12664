What is it?B
prefillingJ;A long document about diffusion language models and chunks.R*reuse