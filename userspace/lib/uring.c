// SPDX-License-Identifier: GPL-2.0
#include <errno.h>

#include <liburing.h>

#include "lib/uring.h"

int uring_get_sqes(struct io_uring *ring, struct io_uring_sqe **sqes, unsigned int n)
{
	unsigned int i;

	if (io_uring_sq_space_left(ring) < n)
		io_uring_submit(ring);
	if (io_uring_sq_space_left(ring) < n)
		return -EBUSY;
	for (i = 0; i < n; i++)
		sqes[i] = io_uring_get_sqe(ring);
	return 0;
}
