// SPDX-License-Identifier: GPL-2.0
/*
 * /proc/net files (kame_helpers.h): proc_net_mkdir() and pde_data() are
 * inlines; a file's namespace is its directory's data.
 */
#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <net/net_namespace.h>

#include "kame_helpers.h"

KAME_INLINE
struct proc_dir_entry *kame_proc_net_mkdir(struct net *net, const char *name)
{
	return proc_net_mkdir(net, name, net->proc_net);
}

KAME_INLINE
void *kame_seq_pde_data(const struct seq_file *m)
{
	return pde_data(file_inode(m->file));
}

KAME_INLINE
void *kame_file_pde_data(const struct file *f)
{
	return pde_data(file_inode(f));
}

KAME_INLINE
bool kame_proc_file_net_admin(const struct file *f)
{
	struct net *net = proc_get_parent_data(file_inode(f));

	return file_ns_capable(f, net->user_ns, CAP_NET_ADMIN);
}
