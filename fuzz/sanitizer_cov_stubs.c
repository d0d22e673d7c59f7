/* Sanitizer builds only (FASTWS_SANITIZE): gcc's -fsanitize-coverage=trace-cmp also
 * traces float and double comparisons, which libFuzzer has no hooks for. These
 * do nothing; weak, so a runtime that has them wins. */
void __attribute__((weak)) __sanitizer_cov_trace_cmpf(float a, float b) { (void)a; (void)b; }
void __attribute__((weak)) __sanitizer_cov_trace_cmpd(double a, double b) { (void)a; (void)b; }
