/* A 32-bit (ia32) program for tests/args.rs, built there with `gcc -m32 -static`: prints
   the address of its message, waits for a byte on stdin, then makes exactly these raw
   syscalls: getppid three times, write(1, message, 10), exit_group(0). On x86_64 their
   i386 numbers (64, 4, 252) are semget, stat and ioprio_get in the native table. */
#define _GNU_SOURCE
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>

static const char message[] = "ia32 done\n";

int main(void)
{
	char go;

	printf("%p\n", (const void *)message);
	fflush(stdout);
	syscall(SYS_read, 0, &go, 1);
	syscall(SYS_getppid);
	syscall(SYS_getppid);
	syscall(SYS_getppid);
	syscall(SYS_write, 1, message, sizeof message - 1);
	syscall(SYS_exit_group, 0);
	return 1;
}
