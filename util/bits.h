/*
 * bits.h - bit tests on whole numbers.  Header only: libbus includes it
 * as well as the programs, and links nothing of util.
 */
#ifndef UTIL_BITS_H
#define UTIL_BITS_H

#include <stdbool.h>
#include <stdint.h>

/* Whether v is a power of two (0 is not). */
static inline bool bits_is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

#endif
