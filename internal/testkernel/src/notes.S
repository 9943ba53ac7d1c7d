# notes.S: the ELF notes of the PVH image (xen/include/public/elfnote.h).
# A GUEST_OS note comes first so that loaders must walk past a note whose
# descriptor needs padding; XEN_ELFNOTE_PHYS32_ENTRY (18) follows with a
# 4-byte entry address.

	.section .note.Xen, "a", @note
	.balign	4
	.long	4			# namesz: "Xen\0"
	.long	6			# descsz: "govmm\0"
	.long	6			# XEN_ELFNOTE_GUEST_OS
	.asciz	"Xen"
	.asciz	"govmm"
	.balign	4
	.long	4
	.long	4
	.long	18			# XEN_ELFNOTE_PHYS32_ENTRY
	.asciz	"Xen"
	.long	pvh_start
