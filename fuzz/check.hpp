#pragma once
// What the harnesses of fuzz/ share: FUZZ_CHECK, an invariant that aborts
// (libFuzzer then keeps the input as a crash) with the failed condition.

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                                \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)
