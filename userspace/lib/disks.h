/* SPDX-License-Identifier: GPL-2.0 */
/*
 * disks.h - block device names as users know them (loop3, nvme0n1, dm-2
 * with its mapper name) from and to the kernel's dev_t (SLUICE_MKDEV
 * encoding), via sysfs (/sys/dev/block, /sys/class/block).
 */
#ifndef SLUICE_LIB_DISKS_H
#define SLUICE_LIB_DISKS_H

#include <stdbool.h>
#include <stddef.h>

/* Kernel name of @dev ("loop3", "sda1"); "MAJ:MIN" if sysfs does not know it. */
int disk_name(unsigned int dev, char *buf, size_t len);

/* The device-mapper name of @dev ("cryptroot"), or -ENOENT if not a dm disk. */
int disk_dm_name(unsigned int dev, char *buf, size_t len);

/* "dm-2 (cryptroot)" for dm disks, else the kernel name. */
int disk_label(unsigned int dev, char *buf, size_t len);

/* True if @dev is a partition; *parent is then its whole disk. */
bool disk_is_partition(unsigned int dev, unsigned int *parent);

/*
 * Resolve a user's name for a disk: "loop3", "/dev/loop3", "7:3", a
 * device-mapper name or /dev/mapper/NAME. A partition resolves to its
 * whole disk unless @partitions. -ENOENT if there is no such block device.
 */
int disk_resolve(const char *spec, bool partitions, unsigned int *dev);

#endif /* SLUICE_LIB_DISKS_H */
