#include <stdio.h>
#include <stdlib.h>
int main(int argc,char**argv){printf("hello %d %s\n",argc,argv[0]); double x=1.5; for(int i=1;i<argc;i++) x*=atof(argv[i]); printf("%f\n",x); return 3;}
