# report.S: what the test kernel reports, over port 0xe9, one byte per OUT.
#
# Assembled twice: with --defsym BITS=32 for the 32-bit entries and with
# --defsym BITS=64 for the 64-bit one. The code is written in the subset
# both modes encode alike (32-bit registers, no push or pop), so one source
# serves both; only reading CR0 differs. Addresses are 32-bit: everything
# the loader hands over lies below 4 GiB in the tests.
#
# Registers: %ebp is the load offset (run address - link address) and is
# never changed; %esi points at boot_params or hvm_start_info. The helpers
# clobber %eax, %ecx and %edx only.
#
# Output, one line each (hex numbers, lowercase, fixed width):
#   MODE long64|prot32|unknown
#   PROTO bzimage|pvh
#   PARAMS <address of boot_params or hvm_start_info>
#   LOAD <address the image runs at>
#   SEG <cs> <ds> <es> <ss>
#   CMDLINE <the command line bytes>
#   E820 <addr> <size> <type>           one per entry
#   INITRD <addr> <size> <fnv-1a 32 of the initrd bytes>
#   ERROR <what>                        only if a magic number is wrong
#   END
# then the status (0 ok, 1 if an ERROR line was printed) goes to port 0xf4
# and the CPU halts for good.

	.text
	.if BITS == 64
	.code64
	.else
	.code32
	.endif

	.if BITS == 64
	.globl	report_bp64
report_bp64:
	.else
	.globl	report_bp32
	.globl	report_pvh32
report_bp32:
	.endif
	# boot_params (arch/x86/include/uapi/asm/bootparam.h)
	leal	s_bzimage(%ebp), %ebx
	call	head
	cmpl	$0x53726448, 0x202(%esi)	# setup_header.header "HdrS"
	je	1f
	leal	s_bad_hdr(%ebp), %ecx
	call	error
1:	movl	0x228(%esi), %ecx		# cmd_line_ptr
	call	cmdline

	movzbl	0x1e8(%esi), %edi		# e820_entries
	leal	0x2d0(%esi), %ebx		# e820_table, 20 bytes each
	jmp	3f
2:	call	e820
	addl	$20, %ebx
	decl	%edi
3:	testl	%edi, %edi
	jnz	2b

	leal	s_initrd(%ebp), %ecx
	call	puts
	movl	0xc0(%esi), %eax		# ext_ramdisk_image
	call	hex32
	movl	0x218(%esi), %eax		# ramdisk_image
	call	hex32
	call	space
	movl	0xc4(%esi), %eax		# ext_ramdisk_size
	call	hex32
	movl	0x21c(%esi), %eax		# ramdisk_size
	call	hex32
	call	space
	movl	0x218(%esi), %ecx
	movl	0x21c(%esi), %edx
	call	fnv
	call	hex32
	call	newline
	jmp	end

	.if BITS == 32
report_pvh32:
	# hvm_start_info (xen/include/public/arch-x86/hvm/start_info.h)
	leal	s_pvh(%ebp), %ebx
	call	head
	cmpl	$0x336ec578, (%esi)		# magic
	je	1f
	leal	s_bad_pvh(%ebp), %ecx
	call	error
1:	movl	24(%esi), %ecx			# cmdline_paddr
	call	cmdline

	movl	48(%esi), %edi			# memmap_entries
	movl	40(%esi), %ebx			# memmap_paddr, 24 bytes each
	jmp	3f
2:	call	e820
	addl	$24, %ebx
	decl	%edi
3:	testl	%edi, %edi
	jnz	2b

	leal	zero16(%ebp), %ebx		# no module: report 0 0
	cmpl	$0, 12(%esi)			# nr_modules
	je	4f
	movl	16(%esi), %ebx			# modlist_paddr: paddr, size
4:	leal	s_initrd(%ebp), %ecx
	call	puts
	movl	4(%ebx), %eax
	call	hex32
	movl	(%ebx), %eax
	call	hex32
	call	space
	movl	12(%ebx), %eax
	call	hex32
	movl	8(%ebx), %eax
	call	hex32
	call	space
	movl	(%ebx), %ecx
	movl	8(%ebx), %edx
	call	fnv
	call	hex32
	call	newline
	jmp	end
	.endif

# head prints MODE, PROTO (the string at %ebx), PARAMS, LOAD and SEG.
head:
	leal	s_mode(%ebp), %ecx
	call	puts
	.if BITS == 64
	movq	%cr0, %rax
	.else
	movl	%cr0, %eax
	.endif
	movl	%eax, %edi
	movl	$0xc0000080, %ecx		# EFER
	rdmsr
	leal	s_unknown(%ebp), %ecx
	testl	$0x80000000, %edi		# CR0.PG
	jz	1f
	testl	$0x400, %eax			# EFER.LMA
	jz	2f
	leal	s_long64(%ebp), %ecx
	jmp	2f
1:	testl	$1, %edi			# CR0.PE
	jz	2f
	testl	$0x400, %eax
	jnz	2f
	leal	s_prot32(%ebp), %ecx
2:	call	puts
	leal	s_proto(%ebp), %ecx
	call	puts
	movl	%ebx, %ecx
	call	puts

	leal	s_params(%ebp), %ecx
	call	puts
	movl	%esi, %eax
	call	hex32
	leal	s_load(%ebp), %ecx
	call	puts
	leal	_text(%ebp), %eax
	call	hex32
	leal	s_seg(%ebp), %ecx
	call	puts
	movl	%cs, %eax
	call	hex32
	call	space
	movl	%ds, %eax
	call	hex32
	call	space
	movl	%es, %eax
	call	hex32
	call	space
	movl	%ss, %eax
	call	hex32
	jmp	newline

# cmdline prints "CMDLINE " and the NUL-terminated string at %ecx (none if
# %ecx is 0), at most 4096 bytes.
cmdline:
	movl	%ecx, %edi
	leal	s_cmdline(%ebp), %ecx
	call	puts
	movl	%edi, %ecx
	testl	%ecx, %ecx
	jz	newline
	movl	$4096, %edx
	call	putsn
	jmp	newline

# e820 prints the entry at %ebx: addr (8 bytes), size (8), type (4).
e820:
	leal	s_e820(%ebp), %ecx
	call	puts
	movl	4(%ebx), %eax
	call	hex32
	movl	(%ebx), %eax
	call	hex32
	call	space
	movl	12(%ebx), %eax
	call	hex32
	movl	8(%ebx), %eax
	call	hex32
	call	space
	movl	16(%ebx), %eax
	call	hex32
	jmp	newline

# error prints "ERROR " and the line at %ecx, and marks the status failed.
error:
	movb	$1, status(%ebp)
	movl	%ecx, %edi
	leal	s_error(%ebp), %ecx
	call	puts
	movl	%edi, %ecx
	jmp	puts

end:
	leal	s_end(%ebp), %ecx
	call	puts
	movb	status(%ebp), %al
	outb	%al, $0xf4
1:	hlt
	jmp	1b

# fnv returns in %eax the FNV-1a 32-bit hash of %edx bytes at %ecx.
fnv:
	movl	$0x811c9dc5, %eax
	testl	%edx, %edx
	jz	2f
1:	xorb	(%ecx), %al
	imull	$0x01000193, %eax, %eax
	incl	%ecx
	decl	%edx
	jnz	1b
2:	ret

# puts prints the NUL-terminated string at %ecx; putsn stops after %edx
# bytes too.
puts:
	movl	$-1, %edx
putsn:
1:	movb	(%ecx), %al
	testb	%al, %al
	jz	2f
	outb	%al, $0xe9
	incl	%ecx
	decl	%edx
	jnz	1b
2:	ret

# hex32 prints %eax as 8 hex digits.
hex32:
	movl	%eax, %edx
	movl	$8, %ecx
1:	roll	$4, %edx
	movl	%edx, %eax
	andl	$0xf, %eax
	cmpb	$10, %al
	jb	2f
	addb	$'a'-'0'-10, %al
2:	addb	$'0', %al
	outb	%al, $0xe9
	decl	%ecx
	jnz	1b
	ret

space:
	movb	$' ', %al
	outb	%al, $0xe9
	ret

newline:
	movb	$'\n', %al
	outb	%al, $0xe9
	ret

	.section .rodata
s_mode:		.asciz	"MODE "
s_long64:	.asciz	"long64\n"
s_prot32:	.asciz	"prot32\n"
s_unknown:	.asciz	"unknown\n"
s_proto:	.asciz	"PROTO "
s_bzimage:	.asciz	"bzimage\n"
s_pvh:		.asciz	"pvh\n"
s_params:	.asciz	"PARAMS "
s_load:		.asciz	"\nLOAD "
s_seg:		.asciz	"\nSEG "
s_cmdline:	.asciz	"CMDLINE "
s_e820:		.asciz	"E820 "
s_initrd:	.asciz	"INITRD "
s_error:	.asciz	"ERROR "
s_bad_hdr:	.asciz	"boot_params has no HdrS\n"
s_bad_pvh:	.asciz	"hvm_start_info magic\n"
s_end:		.asciz	"END\n"
	.balign	8
zero16:		.quad	0, 0

	.data
status:		.byte	0
