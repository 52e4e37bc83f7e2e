/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Transitional: units moved to lib/units.h. Only loader/policy_check.c still
 * includes this name (another branch edits that file); delete this header
 * when its include is changed at merge.
 */
#include "lib/units.h"
