/*
 * Escape attempts from inside a container, for tests/security.rs. Built
 * there with `gcc -static` and run inside the container as
 *   attack escape HOSTPID   each attempt, one line per attempt:
 *                           "NAME refused ERRNO-NAME" or "NAME ALLOWED ..."
 *   attack whoami           "euid N" (for the setuid check)
 *
 * Every attempt is written so that it changes nothing even when the
 * container lets it through: files are opened for writing but never
 * written, calls get arguments the kernel rejects after its permission
 * checks (bad pointers, unknown commands, paths that do not exist), and
 * anything that did get made inside the container is undone at once.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static void report(const char *name, long r, int err) {
    if (r < 0)
        printf("%s refused %s\n", name, strerrorname_np(err));
    else
        printf("%s ALLOWED\n", name);
}

/* Opening for writing is the whole attempt: nothing is written. */
static void open_write(const char *name, const char *path) {
    int fd = open(path, O_WRONLY);
    int err = errno;
    if (fd >= 0)
        close(fd);
    report(name, fd, err);
}

/* Reading is refused when the open fails or the file reads empty (a
 * masked file is /dev/null). */
static void read_some(const char *name, const char *path) {
    char buf[16];
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        report(name, -1, errno);
        return;
    }
    ssize_t n = read(fd, buf, sizeof buf);
    int err = errno;
    close(fd);
    if (n > 0)
        printf("%s ALLOWED read %zd bytes\n", name, n);
    else if (n == 0)
        printf("%s refused empty\n", name);
    else
        report(name, -1, err);
}

static void escape(pid_t host_pid) {
    open_write("write-core_pattern", "/proc/sys/kernel/core_pattern");
    open_write("write-sysrq-trigger", "/proc/sysrq-trigger");
    open_write("write-drop_caches", "/proc/sys/vm/drop_caches");
    open_write("write-uevent_helper", "/sys/kernel/uevent_helper");
    /* Moving itself into another cgroup of the host. */
    open_write("write-cgroup", "/sys/fs/cgroup/cgroup.procs");
    read_some("read-kcore", "/proc/kcore");
    read_some("read-keys", "/proc/keys");
    read_some("read-timer_list", "/proc/timer_list");
    /* Paths that do not exist: a call the filter lets through fails
     * with ENOENT after its lookup, one it stops fails with EPERM. */
    {
        long r = mount("none", "/warren-no-such-dir", "tmpfs", 0, NULL);
        report("mount", r, errno);
    }
    {
        long r = umount2("/warren-no-such-dir", 0);
        report("umount", r, errno);
    }
    {
        long r = syscall(SYS_pivot_root, "/warren-no-such-a", "/warren-no-such-b");
        report("pivot_root", r, errno);
    }
    {
        /* In a child, so that a namespace it got dies with it. */
        pid_t child = fork();
        if (child == 0)
            _exit(unshare(CLONE_NEWUSER) == 0 ? 0 : errno);
        int status = 0;
        waitpid(child, &status, 0);
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : 255;
        report("unshare-user", code == 0 ? 0 : -1, code);
    }
    {
        long r = syscall(SYS_init_module, NULL, 0UL, "");
        report("init_module", r, errno);
    }
    {
        long r = syscall(SYS_finit_module, -1, "", 0);
        report("finit_module", r, errno);
    }
    {
        /* No segments and an unknown architecture in the flags: refused
         * after the permission check, never an unload. */
        long r = syscall(SYS_kexec_load, 0UL, 0UL, NULL, 0xffff0000UL);
        report("kexec_load", r, errno);
    }
    {
        long r = syscall(SYS_bpf, 9999, NULL, 0);
        report("bpf", r, errno);
    }
    {
        long r = syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0UL);
        report("perf_event_open", r, errno);
    }
    {
        long r = syscall(SYS_keyctl, 9999, 0UL, 0UL, 0UL, 0UL);
        report("keyctl", r, errno);
    }
    {
        long r = ptrace(PTRACE_ATTACH, host_pid, NULL, NULL);
        int err = errno;
        if (r == 0) {
            waitpid(host_pid, NULL, 0);
            ptrace(PTRACE_DETACH, host_pid, NULL, NULL);
        }
        report("ptrace-host", r, err);
    }
    {
        long r = syscall(SYS_open_by_handle_at, AT_FDCWD, NULL, O_RDONLY);
        report("open_by_handle_at", r, errno);
    }
    {
        long r = mknod("/tmp/warren-blk", S_IFBLK | 0600, makedev(7, 0));
        int err = errno;
        if (r == 0)
            unlink("/tmp/warren-blk");
        report("mknod-block", r, err);
    }
    {
        /* A character device the container makes itself (the kernel log
         * here) must not open, even when mknod works. */
        long r = mknod("/tmp/warren-kmsg", S_IFCHR | 0600, makedev(1, 11));
        int err = errno;
        if (r == 0) {
            int fd = open("/tmp/warren-kmsg", O_RDONLY | O_NONBLOCK);
            err = errno;
            if (fd >= 0)
                close(fd);
            unlink("/tmp/warren-kmsg");
            r = fd;
        }
        report("open-own-device", r, err);
    }
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 3 && strcmp(argv[1], "escape") == 0) {
        escape((pid_t)atoi(argv[2]));
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "whoami") == 0) {
        printf("euid %d\n", (int)geteuid());
        return 0;
    }
    fprintf(stderr, "usage: attack escape HOSTPID | attack whoami\n");
    return 2;
}
