package symbols

import (
	"fmt"
	"math/bits"
)

// maxCPUs bounds CPU masks read from memory (NR_CPUS is at most 8192 on
// x86_64, arch/x86/Kconfig).
const maxCPUs = 8192

// PerCPUOffset returns __per_cpu_offset[cpu]: the distance from a per-CPU
// variable's link-time address to that CPU's copy (mm/percpu.c,
// arch/x86/kernel/setup_percpu.c).
//
// cpu must be below nr_cpu_ids when the kernel's nr_cpu_ids can be read:
// the entries past it are not CPUs' areas (they keep the boot value).
func (p *Program) PerCPUOffset(cpu int) (uint64, error) {
	if cpu < 0 || cpu >= maxCPUs {
		return 0, fmt.Errorf("per-CPU offset: cpu %d out of range", cpu)
	}
	if n, err := p.numCPUIDsMemo(); err == nil && cpu >= n {
		return 0, fmt.Errorf("per-CPU offset: no cpu %d: nr_cpu_ids is %d (CPUs 0-%d)", cpu, n, n-1)
	}
	base, err := p.Symbol("__per_cpu_offset")
	if err != nil {
		return 0, fmt.Errorf("per-CPU offset of cpu %d: %w", cpu, err)
	}
	off, err := p.ReadU64(base + uint64(cpu)*8)
	if err != nil {
		return 0, fmt.Errorf("__per_cpu_offset[%d]: %w", cpu, err)
	}
	return off, nil
}

// PerCPUAddr returns the address of CPU cpu's copy of the per-CPU object at
// link-time address addr (the kernel's per_cpu_ptr).
func (p *Program) PerCPUAddr(addr uint64, cpu int) (uint64, error) {
	off, err := p.PerCPUOffset(cpu)
	if err != nil {
		return 0, err
	}
	return addr + off, nil
}

// PerCPUVariable returns CPU cpu's copy of the per-CPU variable name
// (runqueues, current_task, pcpu_hot, ...).
func (p *Program) PerCPUVariable(name string, cpu int) (Object, error) {
	v, err := p.Variable(name)
	if err != nil {
		return Object{}, err
	}
	a, err := p.PerCPUAddr(v.addr, cpu)
	if err != nil {
		return Object{}, fmt.Errorf("%s on cpu %d: %w", name, cpu, err)
	}
	o := p.ObjectAt(v.typ, a)
	o.path = fmt.Sprintf("per_cpu(%s, %d)", name, cpu)
	return o, nil
}

// NumCPUIDs returns nr_cpu_ids (kernel/smp.c): the number of possible CPU
// ids, one more than the highest.
func (p *Program) NumCPUIDs() (int, error) {
	addr, err := p.Symbol("nr_cpu_ids")
	if err != nil {
		return 0, err
	}
	n, err := p.ReadU32(addr)
	if err != nil {
		return 0, fmt.Errorf("nr_cpu_ids: %w", err)
	}
	if n == 0 || n > maxCPUs {
		return 0, fmt.Errorf("nr_cpu_ids is %d, not a CPU count", n)
	}
	return int(n), nil
}

// numCPUIDsKey memoises nr_cpu_ids, which is fixed after boot.
type numCPUIDsKey struct{}

func (p *Program) numCPUIDsMemo() (int, error) {
	v, err := p.Memo(numCPUIDsKey{}, func() (any, error) { return p.NumCPUIDs() })
	if err != nil {
		return 0, err
	}
	return v.(int), nil
}

// CPUMask returns the CPUs set in the struct cpumask at symbol name
// (__cpu_online_mask, __cpu_possible_mask; kernel/cpu.c), bounded by
// nr_cpu_ids when it can be read.
func (p *Program) CPUMask(name string) ([]int, error) {
	addr, err := p.Symbol(name)
	if err != nil {
		return nil, err
	}
	n := maxCPUs
	if v, err := p.NumCPUIDs(); err == nil {
		n = v
	}
	words := (n + 63) / 64
	var cpus []int
	for w := 0; w < words; w++ {
		v, err := p.ReadU64(addr + uint64(w)*8)
		if err != nil {
			return nil, fmt.Errorf("%s word %d: %w", name, w, err)
		}
		for v != 0 {
			b := bits.TrailingZeros64(v)
			v &^= 1 << b
			if cpu := w*64 + b; cpu < n {
				cpus = append(cpus, cpu)
			}
		}
	}
	return cpus, nil
}

// OnlineCPUs returns the CPUs that were online.
func (p *Program) OnlineCPUs() ([]int, error) { return p.CPUMask("__cpu_online_mask") }

// PossibleCPUs returns the CPUs that may exist (per-CPU areas are set up
// for each).
func (p *Program) PossibleCPUs() ([]int, error) { return p.CPUMask("__cpu_possible_mask") }
