// Package tcg is govmm's translator: it runs riscv64 guest code on any
// host by translating it, block by block, into code the host runs
// directly. Where KVM cannot run the guest (another architecture), this
// is the engine.
//
// The work is layered like a compiler (see README.md and RATIONALE.md in
// this directory):
//
//	tcg/riscv             frontend: decode RV64GC into the IR; the guest's helpers
//	                      (IEEE floating point, CSRs, atomics with LR/SC)
//	tcg/ir                the IR: operations on guest-state slots and temporaries,
//	                      one block with side exits and one terminator
//	tcg/backend/closure   portable backend: IR -> Go closures specialised per
//	                      operation and operand shape
//	tcg/backend/amd64     native backend: IR -> x86-64 machine code in an
//	                      executable buffer, entered through an assembly trampoline
//	tcg/env               what translated code runs against: the register file,
//	                      the softmmu TLB and its slow paths, the memory system
//	                      (RAM regions, MMIO bus), translated-code tracking, the
//	                      exit protocol
//	tcg (this package)    the CPU: translation-block cache, chaining, jump
//	                      caches, invalidation, the run loop and the API
//	tcg/linuxuser         user-mode Linux emulation (ELF loader, system calls),
//	                      behind `govmm user` and the differential tests
//
// A machine creates one env.Memory (its RAM regions and MMIO bus) and one
// CPU per hart, and calls Run on each CPU from its own goroutine. Run
// returns an Event when the guest needs the machine (a system call, an
// exception no trap handler took, WFI) or when Stop is called from any
// goroutine. A machine's harts get the privileged architecture
// (Config.System): traps and interrupts then go to the guest's handlers,
// WFI waits inside Run, and SetIRQ raises interrupt lines that the hart
// sees at its next block boundary.
package tcg
