/*
 * io.h - writing a whole buffer to a descriptor, for the programs and the
 * tests (util/): buscli's output and the tests' pipes and logs.
 */
#ifndef UTIL_IO_H
#define UTIL_IO_H

#include <stddef.h>

/*
 * Writes all n bytes of data to fd, again after EINTR and a short write.
 * Returns 0, or a negative errno (nothing said about how much was written).
 */
int io_write_all(int fd, const void *data, size_t n);

#endif
