// Package irq walks the kernel's interrupt descriptors: each irq_desc
// with its chip, flow handler, actions (the handlers and their names, as
// /proc/interrupts shows them), per-CPU counts and affinity.
//
//	ds, err := irq.Descs(p) // every allocated descriptor, by irq number
//	cpus, _ := p.OnlineCPUs()
//	ds[0].Counts[cpu], ds[0].Actions[0].Name, ds[0].Affinity
//
// Descriptors live in a radix tree (irq_desc_tree) before 6.5 and in the
// sparse_irqs maple tree since (kernel/irq/irqdesc.c, CONFIG_SPARSE_IRQ).
package irq
