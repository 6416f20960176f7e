/*
 * initbin.c: the jail's init (jail.c, linked statically as chald-init) as
 * bytes inside chald, so that organizers install and run one binary.
 * sandbox.c copies it into a sealed memfd and execs it from there.
 * CHALD_INIT is the path of the built chald-init, set by the Makefile.
 */
#ifndef CHALD_INIT
#error "CHALD_INIT must name the built chald-init"
#endif

__asm__(
"	.pushsection .rodata\n"
"	.balign	64\n"
"	.globl	chald_init_start\n"
"	.hidden	chald_init_start\n"
"chald_init_start:\n"
"	.incbin	\"" CHALD_INIT "\"\n"
"	.globl	chald_init_end\n"
"	.hidden	chald_init_end\n"
"chald_init_end:\n"
"	.popsection\n");
