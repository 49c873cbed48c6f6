/* bench/kern_vs_ggml/ponder_mm.c — CPU time of one pd_matmul (ponder's kernels) for TYPE_ID K N M REPS [THREADS]:
 * best of REPS, printed as ms and GMAC per CPU-second. The weights and activations are the same
 * rand() rows as ggml_mm.c makes, so the two programs time the same product (y0 agrees).
 * Built with -DPD_MM_REPACK (run.sh: REPACK=1), Q4_0 / Q8_0 / Q4_K weights are first repacked into
 * 8-row groups where the active kernels read them (kern.h, pd_repack_r8), as `ponder` loads them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "ponder/kern.h"
#include "ponder/threads.h"
static double cpu(void){struct timespec t;clock_gettime(CLOCK_PROCESS_CPUTIME_ID,&t);return t.tv_sec+t.tv_nsec*1e-9;}
int main(int argc,char**argv){
  pd_type t = (pd_type)atoi(argv[1]); long K=atol(argv[2]),N=atol(argv[3]),M=atol(argv[4]); int reps=atoi(argv[5]);
  pd_threads_set(argc>6?atoi(argv[6]):1);
  size_t rb=pd_row_bytes(t,K); char*w=malloc(rb*N); float*row=malloc(K*4),*x=malloc(K*M*4),*y=malloc(N*M*4);
  srand(1); for(long n=0;n<N;n++){for(long k=0;k<K;k++)row[k]=(rand()/(float)RAND_MAX-0.5f)*0.04f; pd_quantize_row(t,row,w+n*rb,K);}
  for(long i=0;i<K*M;i++)x[i]=rand()/(float)RAND_MAX-0.5f;
  pd_tensor W; int64_t ne[2]={K,N}; pd_tensor_init(&W,t,2,ne,w);
#ifdef PD_MM_REPACK /* as the inference commands load weights (pd_model_repack): 8-row groups */
  char *wr = NULL;
  if (pd_repack_supported(&W)) { wr = malloc(rb*N); if (pd_repack_r8(&W, wr) != PD_OK) return 1; free(w); w = wr; }
#endif
  pd_matmul(&W,x,M,K,y,N);
  double best=1e9;
  for(int r=0;r<reps;r++){double c0=cpu(); pd_matmul(&W,x,M,K,y,N); double c=cpu()-c0; if(c<best)best=c;}
  printf("type %s K=%ld N=%ld M=%ld: best %.3f ms CPU, %.1f GMAC/CPU-s, %.2f GB/CPU-s  y0=%g\n",pd_type_name(t),K,N,M,best*1e3,K*N*M/best*1e-9,rb*N/best*1e-9,y[0]);
  return 0;}
