package symbols

// VariableTyper is implemented by type sources that know the types of
// global variables (DWARF for every global, BTF for per-CPU VARs).
type VariableTyper interface {
	VariableType(name string) (*Type, error)
}

// globalTypes lists the globals walkers need whose types BTF does not
// record, with the C type the kernel declares them with.
var globalTypes = map[string]string{
	"init_task":      "struct task_struct",   // init/init_task.c
	"init_pid_ns":    "struct pid_namespace", // kernel/pid.c
	"modules":        "struct list_head",     // kernel/module/main.c (kernel/module.c before 5.19)
	"super_blocks":   "struct list_head",     // fs/super.c
	"btf_modules":    "struct list_head",     // kernel/bpf/btf.c
	"fuse_conn_list": "struct list_head",     // fs/fuse/inode.c
	"init_uts_ns":    "struct uts_namespace", // init/version.c
}

// GlobalType returns the C type name of a global from kwalk's table.
func GlobalType(name string) (typeName string, ok bool) {
	t, ok := globalTypes[name]
	return t, ok
}
