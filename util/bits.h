/*
 * bits.h - bit tests on whole numbers, and the nibble a hex digit
 * stands for.  Header only: libbus includes it
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

/* The value of a lowercase hex digit (the shm and queue names use), or -1. */
static inline int bits_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

#endif
