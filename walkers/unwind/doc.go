// Package unwind reads registers and kernel stacks: Stack / TaskStack
// unwind a task (ORC, frame pointers, exception and IRQ frames), StackWords
// gives the raw words with their symbols, DecodeSyscall names the system
// call a task is in with its arguments, and FrameVariables reads DWARF
// frame variables when debug info is loaded.
package unwind
