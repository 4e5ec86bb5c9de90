// SPDX-License-Identifier: GPL-2.0
/*
 * Wrappers for the delayed-work macros of linux/workqueue.h (kame_helpers.h).
 * Work runs on system_dfl_wq, the unbound queue (system_unbound_wq is its
 * deprecated name in this kernel and warns).
 */
#include <linux/jiffies.h>
#include <linux/workqueue.h>

#include "kame_helpers.h"

void kame_init_delayed_work(struct delayed_work *dw, work_func_t fn)
{
	INIT_DELAYED_WORK(dw, fn);
}

void kame_mod_delayed_work_ms(struct delayed_work *dw, unsigned int ms)
{
	mod_delayed_work(system_dfl_wq, dw, msecs_to_jiffies(ms));
}
