#define _GNU_SOURCE
#include "CSpoolSystem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int spool_spawn(const char *path, char *const argv[], char *const envp[], const char *workdir,
                int stdin_fd, int stdout_fd, int stderr_fd, pid_t *pid) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    int rc = posix_spawn_file_actions_init(&actions);
    if (rc != 0) return rc;
    rc = posix_spawnattr_init(&attributes);
    if (rc != 0) { posix_spawn_file_actions_destroy(&actions); return rc; }

    // Its own process group, so one kill(-pgid) reaches everything the worker starts.
    posix_spawnattr_setpgroup(&attributes, 0);
    // Default signal dispositions and an empty mask: the daemon's own may block SIGTERM.
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attributes, &all);
    posix_spawnattr_setsigmask(&attributes, &none);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

    posix_spawn_file_actions_adddup2(&actions, stdin_fd, 0);
    posix_spawn_file_actions_adddup2(&actions, stdout_fd, 1);
    posix_spawn_file_actions_adddup2(&actions, stderr_fd, 2);
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    if (workdir != NULL) posix_spawn_file_actions_addchdir_np(&actions, workdir);

    rc = posix_spawn(pid, path, &actions, &attributes, argv, envp);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    return rc;
}

int spool_kill_group(pid_t pgid, int signal) {
    if (pgid <= 1) return EINVAL;
    return kill(-pgid, signal) == 0 ? 0 : errno;
}

int spool_wait_exit(pid_t pid, int *signaled) {
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, 0);
        if (r == pid) break;
        if (r < 0 && errno == EINTR) continue;
        return -1;
    }
    if (WIFEXITED(status)) { *signaled = 0; return WEXITSTATUS(status); }
    if (WIFSIGNALED(status)) { *signaled = 1; return 128 + WTERMSIG(status); }
    *signaled = 0;
    return -1;
}

int spool_count_live_in_group(pid_t pgid) {
    DIR *proc = opendir("/proc");
    if (proc == NULL) return -1;
    int count = 0;
    struct dirent *entry;
    char path[64], buffer[512];
    while ((entry = readdir(proc)) != NULL) {
        if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
        snprintf(path, sizeof path, "/proc/%s/stat", entry->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        ssize_t n = read(fd, buffer, sizeof buffer - 1);
        close(fd);
        if (n <= 0) continue;
        buffer[n] = 0;
        // Fields after the command name, which may itself contain spaces and parentheses.
        char *after = strrchr(buffer, ')');
        if (after == NULL) continue;
        char state;
        int ppid, pgrp;
        if (sscanf(after + 1, " %c %d %d", &state, &ppid, &pgrp) != 3) continue;
        if (pgrp == pgid && state != 'Z' && state != 'X') count++;
    }
    closedir(proc);
    return count;
}

int spool_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC) == 0 ? 0 : errno;
}

int spool_set_thread_nice(int nice) {
    return setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice) == 0 ? 0 : errno;
}

int spool_set_thread_idle_class(void) {
    struct sched_param param = {.sched_priority = 0};
    // On Linux the pid argument 0 means the calling thread, not the whole process.
    return sched_setscheduler(0, SCHED_IDLE, &param) == 0 ? 0 : errno;
}

void spool_set_thread_name(const char *name) {
    char cut[16];
    snprintf(cut, sizeof cut, "%s", name);
    pthread_setname_np(pthread_self(), cut);
}

/// Whether a process other than through `except_fd` of ours holds the file (dev, ino) open
/// for writing, from /proc: 1 yes, 0 no, -1 /proc unreadable.
static int spool_proc_writer(dev_t dev, ino_t ino) {
    DIR *proc = opendir("/proc");
    if (proc == NULL) return -1;
    int found = 0;
    struct dirent *entry;
    char path[96], link[96], line[128];
    pid_t self = getpid();
    while (!found && (entry = readdir(proc)) != NULL) {
        if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
        if (atoi(entry->d_name) == self) continue;
        snprintf(path, sizeof path, "/proc/%s/fd", entry->d_name);
        DIR *fds = opendir(path);
        if (fds == NULL) continue;
        struct dirent *fd;
        while (!found && (fd = readdir(fds)) != NULL) {
            if (fd->d_name[0] < '0' || fd->d_name[0] > '9') continue;
            snprintf(link, sizeof link, "/proc/%s/fd/%s", entry->d_name, fd->d_name);
            struct stat info;
            if (stat(link, &info) != 0 || info.st_dev != dev || info.st_ino != ino) continue;
            snprintf(link, sizeof link, "/proc/%s/fdinfo/%s", entry->d_name, fd->d_name);
            FILE *fdinfo = fopen(link, "re");
            if (fdinfo == NULL) continue;
            while (fgets(line, sizeof line, fdinfo) != NULL) {
                unsigned int flags;
                if (sscanf(line, "flags: %o", &flags) == 1) {
                    if ((flags & O_ACCMODE) != O_RDONLY) found = 1;
                    break;
                }
            }
            fclose(fdinfo);
        }
        closedir(fds);
    }
    closedir(proc);
    return found;
}

int spool_file_open_for_writing(const char *path) {
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return -1;
    struct stat info;
    if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
        close(fd);
        return -1;
    }
    int result;
    if (fcntl(fd, F_SETLEASE, F_RDLCK) == 0) {
        fcntl(fd, F_SETLEASE, F_UNLCK);
        result = 0;
    } else if (errno == EAGAIN) {
        result = 1;
    } else {
        result = spool_proc_writer(info.st_dev, info.st_ino);
    }
    close(fd);
    return result;
}
