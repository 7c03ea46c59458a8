package repl

// registrations lists the functions that add kwalk's commands to a
// Registry. To add a command group, write repl/cmd_<group>.go with a
// func register<Group>(r *Registry) and add it here, one line.
var registrations = [...]func(*Registry){
	registerHelp,
	registerSys,
	registerRd,
	registerSym,
	registerStruct,
	registerPrint,
	registerDis,
	registerSet,
	registerForeach,
	registerMod,
	registerList,
	registerTree,
	registerDev,
	registerNet,
	registerVtop,
	registerSearch,
	registerEval,
	registerQuit,
	// Walker commands: add register functions below.
	registerLocks,
	registerFuse,
	registerDeadlock,
	registerBlocked,
	registerPs,
	registerFiles,
	registerMount,
	registerLog,
	registerBt,
	registerKmem,
	registerSwap,
	registerVM,
	registerTimer,
	registerRunq,
	registerIRQ,
	registerSig,
}

// Builtins adds every kwalk command to r.
func Builtins(r *Registry) {
	for _, reg := range registrations {
		reg(r)
	}
}

// NewDefaultRegistry is NewRegistry filled with Builtins.
func NewDefaultRegistry() *Registry {
	r := NewRegistry()
	Builtins(r)
	return r
}
