
r1
llada-tiny2: