package symbols

import (
	"errors"
	"fmt"
)

// VariableTyper is implemented by type sources that know the types of
// global variables: DWARF for every global, BTF for per-CPU variables (its
// only VARs, in DATASEC .data..percpu).
type VariableTyper interface {
	// VariableType returns the C type of the global variable name, or an
	// error wrapping ErrNoType when the source does not describe it.
	VariableType(name string) (*Type, error)
}

// globalTypes is the C type of each global variable the walkers need, for
// sources that carry no variable records (BTF). Types are spelled for
// LookupType. Per-CPU variables (runqueues, current_task, pcpu_hot) are not
// here: BTF has VARs for them (see VariableTyper).
var globalTypes = map[string]string{
	// init/init_task.c
	"init_task": "struct task_struct",
	// kernel/pid.c
	"init_pid_ns": "struct pid_namespace",
	// kernel/module/main.c (kernel/module.c before 5.19): static LIST_HEAD(modules)
	"modules": "struct list_head",
	// fs/super.c: static LIST_HEAD(super_blocks)
	"super_blocks": "struct list_head",
	// kernel/bpf/btf.c: static LIST_HEAD(btf_modules) (CONFIG_DEBUG_INFO_BTF_MODULES)
	"btf_modules": "struct list_head",
	// fs/fuse/inode.c: LIST_HEAD(fuse_conn_list)
	"fuse_conn_list": "struct list_head",
	// kernel/workqueue.c: static DEFINE_IDR(worker_pool_idr)
	"worker_pool_idr": "struct idr",
	// kernel/rcu/tree.c: static struct rcu_state rcu_state; int rcu_num_nodes
	"rcu_state":     "struct rcu_state",
	"rcu_num_nodes": "int",
	// init/version.c (kernel/utsname.c declares it)
	"init_uts_ns": "struct uts_namespace",
	// kernel/printk/printk.c: static struct printk_ringbuffer *prb
	"prb": "struct printk_ringbuffer *",
	// kernel/printk/printk.c: the static ring buffer prb points to at boot
	"printk_rb_static": "struct printk_ringbuffer",
	// kernel/time/jiffies.c: jiffies_64; jiffies is its alias
	// (arch/x86/kernel/vmlinux.lds.S "jiffies = jiffies_64")
	"jiffies":    "unsigned long",
	"jiffies_64": "u64",
	// mm/init-mm.c
	"init_mm": "struct mm_struct",
	// arch/x86/kernel/setup_percpu.c (mm/percpu.c on other arches)
	"__per_cpu_offset": "unsigned long[]",
	// kernel/smp.c (setup_nr_cpu_ids)
	"nr_cpu_ids": "unsigned int",
	// kernel/cpu.c: struct cpumask __cpu_*_mask
	"__cpu_online_mask":   "struct cpumask",
	"__cpu_possible_mask": "struct cpumask",
	"__cpu_present_mask":  "struct cpumask",
	"__cpu_active_mask":   "struct cpumask",
	// mm/filemap.c: static wait_queue_head_t folio_wait_table[PAGE_WAIT_TABLE_SIZE]
	// (page_wait_table before folios), PAGE_WAIT_TABLE_BITS = 8
	"folio_wait_table": "wait_queue_head_t[256]",
	"page_wait_table":  "wait_queue_head_t[256]",
	// kernel/nsproxy.c
	"init_nsproxy": "struct nsproxy",
	// init/version.c (init/version-timestamp.c since 6.2)
	"linux_banner": "char[]",
	// arch/x86/kernel/head64.c (KASLR bases; x86_64 only)
	"page_offset_base": "unsigned long",
	"vmalloc_base":     "unsigned long",
	"vmemmap_base":     "unsigned long",
	// kernel/kexec_core.c in 6.1, kernel/crash_core.c in 6.19: note_buf_t __percpu *crash_notes
	"crash_notes": "note_buf_t *",
	// fs/fuse/dev.c: const struct file_operations fuse_dev_operations
	"fuse_dev_operations": "struct file_operations",
	// kernel/sched/core.c: DEFINE_PER_CPU_SHARED_ALIGNED(struct rq, runqueues)
	// — per-CPU, listed for DWARF-less kernels whose BTF lacks the VAR.
	"runqueues": "struct rq",
	// arch/x86/kernel/cpu/common.c: DEFINE_PER_CPU(struct task_struct *, current_task)
	// (moved into pcpu_hot in 6.2)
	"current_task": "struct task_struct *",
	// arch/x86/kernel/cpu/common.c (6.2+): DEFINE_PER_CPU_ALIGNED(struct pcpu_hot, pcpu_hot)
	"pcpu_hot": "struct pcpu_hot",
	// kernel/module/main.c
	"module_mutex": "struct mutex",
	// mm/vmalloc.c (5.x–6.x, replaced by vmap nodes in 6.9)
	"vmap_area_list": "struct list_head",
	// mm/slab_common.c
	"slab_caches": "struct list_head",
	// kernel/hung_task.c: the hung-task timeout
	"sysctl_hung_task_timeout_secs": "unsigned long",
	// kernel/fork.c
	"nr_threads":    "int",
	"total_forks":   "unsigned long",
	"tasklist_lock": "rwlock_t",
	// init/main.c
	"system_state": "enum system_states",
	// kernel/panic.c
	"panic_cpu": "atomic_t",
	// kernel/kthread.c
	"kthreadd_task": "struct task_struct *",
	// kernel/sched/loadavg.c: unsigned long avenrun[3]
	"avenrun": "unsigned long[3]",
	// fs/file.c
	"init_files": "struct files_struct",
	// fs/fs_struct.c
	"init_fs": "struct fs_struct",
	// fs/namespace.c: static struct hlist_head *mount_hashtable
	"mount_hashtable": "struct hlist_head *",
}

// GlobalType returns the C type name of a global variable the walkers use,
// for type sources that do not describe variables. ok is false for a name
// the table does not list.
func GlobalType(name string) (typeName string, ok bool) {
	typeName, ok = globalTypes[name]
	return typeName, ok
}

// GlobalNames returns the names GlobalType knows.
func GlobalNames() []string {
	out := make([]string, 0, len(globalTypes))
	for n := range globalTypes {
		out = append(out, n)
	}
	return out
}

// LookupVariableType finds a global variable's type: from the source's
// variable records when it has them (DWARF; BTF per-CPU VARs), else from
// the GlobalType table resolved through the source.
func LookupVariableType(ts TypeSource, name string) (*Type, error) {
	if ts == nil {
		return nil, fmt.Errorf("%w: variable %s (no type information loaded)", ErrNoType, name)
	}
	var vtErr error
	if vt, ok := ts.(VariableTyper); ok {
		t, err := vt.VariableType(name)
		if err == nil {
			return t, nil
		}
		if !errors.Is(err, ErrNoType) {
			return nil, err
		}
		vtErr = err
	}
	tn, ok := GlobalType(name)
	if !ok {
		if vtErr != nil {
			return nil, vtErr
		}
		return nil, fmt.Errorf("%w: variable %s (%s describes no variables and the globals table does not list it)", ErrNoType, name, ts.Describe())
	}
	t, err := ts.LookupType(tn)
	if err != nil {
		return nil, fmt.Errorf("variable %s: %w", name, err)
	}
	return t, nil
}
