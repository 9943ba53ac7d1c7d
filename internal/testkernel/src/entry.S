# entry.S: the three entry points of the govmm test kernel.
#
# The image is linked at 0x1000000 (kernel.ld). Its first byte is
# startup_32 and byte 0x200 is startup_64, as in a Linux bzImage's
# protected-mode part (Documentation/arch/x86/boot.rst), so the same bytes,
# behind a setup header, make the bzImage; pvh_start is the PVH entry that
# the Xen note in notes.S points at. Each entry finds its load offset (the
# bzImage may be loaded anywhere: relocatable_kernel is 1) in %ebp, sets a
# stack of its own, and jumps to the reporting code in report.S.
#
# Ring 0 runs in an instruction emulator on some hosts (PVM): keep to plain
# instructions here and in report.S.

	.section .head.text, "ax"

	.code32
	.globl	startup_32
startup_32:
	# 32-bit boot protocol: flat protected mode, paging off, %esi =
	# boot_params. Like Linux, borrow boot_params.scratch (0x1e4) as the
	# stack for one call, to learn where we run.
	cld
	cli
	leal	0x1e8(%esi), %esp
	call	1f
1:	popl	%ebp
	subl	$1b, %ebp
	leal	stack_top(%ebp), %esp
	jmp	report_bp32

	.org	0x200
	.code64
	.globl	startup_64
startup_64:
	# 64-bit boot protocol: long mode, identity-mapped, %rsi = boot_params.
	cld
	cli
	leaq	startup_64(%rip), %rbp
	subq	$startup_64, %rbp
	leaq	stack_top(%rip), %rsp
	jmp	report_bp64

	.code32
	.globl	pvh_start
pvh_start:
	# PVH: flat protected mode, paging off, %ebx = hvm_start_info. The
	# ELF is loaded at its link address, so the offset is zero.
	cld
	cli
	xorl	%ebp, %ebp
	movl	$stack_top, %esp
	movl	%ebx, %esi
	jmp	report_pvh32

	.section .bss
	.balign	16
stack:
	.skip	256
stack_top:
