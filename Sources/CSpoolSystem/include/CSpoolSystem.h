#ifndef SPOOL_CSPOOLSYSTEM_H
#define SPOOL_CSPOOLSYSTEM_H

#include <sys/types.h>

/// Starts `path` with `argv` and `envp` in a new process group whose id is its pid,
/// with the working directory `workdir`, and the given descriptors as its stdin, stdout
/// and stderr. Every other descriptor is closed in the child. Returns 0 and sets `*pid`,
/// or an errno value.
int spool_spawn(const char *path, char *const argv[], char *const envp[], const char *workdir,
                int stdin_fd, int stdout_fd, int stderr_fd, pid_t *pid);

/// Sends `signal` to every process in group `pgid`. Returns 0 or an errno value (ESRCH: gone).
int spool_kill_group(pid_t pgid, int signal);

/// Waits for `pid` to exit. Returns its exit status as a shell would report it
/// (the exit code, or 128 + the signal that killed it), or -1 on error.
int spool_wait_exit(pid_t pid, int *signaled);

/// Counts processes whose process group is `pgid` and that are not zombies, from /proc.
int spool_count_live_in_group(pid_t pgid);

/// pipe2(fds, O_CLOEXEC), which Glibc hides from Swift behind _GNU_SOURCE. Returns 0 or an errno value.
int spool_pipe_cloexec(int fds[2]);

/// Sets the calling thread's nice value (on Linux a per-thread attribute; threads it starts
/// afterwards inherit it). Returns 0 or an errno value.
int spool_set_thread_nice(int nice);

/// Puts the calling thread in the SCHED_IDLE class: it runs only on CPU time no other
/// thread wants, and any thread of a normal class that wakes preempts it at once. Threads
/// it starts afterwards inherit the class. Returns 0 or an errno value.
int spool_set_thread_idle_class(void);

/// Names the calling thread as `top` and `perf` show it, cut to Linux's 15 characters.
/// Foundation's `Thread.name` does not reach the kernel on Linux, so without this a thread
/// shows the name of whichever thread started it.
void spool_set_thread_name(const char *name);

/// Whether any process has `path` open for writing: 1 yes, 0 no, -1 cannot tell (or no such
/// regular file). Asks the kernel first with a read lease (F_SETLEASE refuses one while any
/// process holds the file open for writing); where leases are not allowed (another owner,
/// a file system without them) looks through /proc for a descriptor on the same file opened
/// for writing. Never follows a symbolic link.
int spool_file_open_for_writing(const char *path);

#endif
