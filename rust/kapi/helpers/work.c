// SPDX-License-Identifier: GPL-2.0
/* Wrappers for the delayed-work macros of linux/workqueue.h (kame_helpers.h). */
#include <linux/jiffies.h>
#include <linux/workqueue.h>

#include "kame_helpers.h"

void kame_init_delayed_work(struct delayed_work *dw, work_func_t fn)
{
	INIT_DELAYED_WORK(dw, fn);
}

void kame_mod_delayed_work_ms(struct delayed_work *dw, unsigned int ms)
{
	mod_delayed_work(system_unbound_wq, dw, msecs_to_jiffies(ms));
}
