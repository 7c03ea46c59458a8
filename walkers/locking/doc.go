// Package locking decodes the kernel's sleeping locks and wait queues:
// Mutex, Rwsem, Semaphore, Completion, WaitQueue and folio waits, each
// with its owner (where the kernel records one), its state and its waiters
// in queue order. The decoders are feature-detected from the types (a
// 7.1+ lock keeps first_waiter instead of wait_list).
package locking
