// Runs a program with posix_spawn and captures stdout, stderr and the exit
// status separately, with optional stdin text and a timeout (the process is
// killed past it). For the end-to-end tests of the command line. The timeout
// is a hang guard, not a speed test: tests never assert wall time (a loaded
// 2-core CI machine can be several times slower than a workstation).
#pragma once
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

extern char** environ;

namespace matcalc::testing {

// The default timeout: generous, so that only a hang (or a runaway) trips it.
inline constexpr double kHangGuardSeconds = 60;

struct ProcessResult {
  std::string out, err;
  int status = -1;        // exit status when the process exited
  bool signaled = false;  // killed by a signal (a crash, or the timeout)
  int signal = 0;
  bool timed_out = false;
  bool spawn_failed = false;
  double seconds = 0;
};

inline ProcessResult run_process(const std::string& program, const std::vector<std::string>& args,
                                 const std::string& stdin_text = "", double timeout_s = kHangGuardSeconds) {
  ProcessResult r;
  auto start = std::chrono::steady_clock::now();
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (pipe(in_pipe) != 0 || pipe(out_pipe) != 0 || pipe(err_pipe) != 0) {
    r.spawn_failed = true;
    return r;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in_pipe[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
  for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]})
    posix_spawn_file_actions_addclose(&fa, fd);
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(program.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, program.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(in_pipe[0]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (rc != 0) {
    for (int fd : {in_pipe[1], out_pipe[0], err_pipe[0]}) close(fd);
    r.spawn_failed = true;
    r.err = std::string("posix_spawn failed: ") + std::strerror(rc);
    return r;
  }
  // stdin is written as the child reads it (poll), so a large text cannot
  // deadlock against full output pipes; closed when done or refused.
  fcntl(in_pipe[1], F_SETFL, O_NONBLOCK);
  signal(SIGPIPE, SIG_IGN);
  std::size_t written = 0;
  int in_fd = in_pipe[1];
  if (stdin_text.empty()) {
    close(in_fd);
    in_fd = -1;
  }
  auto deadline = start + std::chrono::milliseconds(static_cast<int>(timeout_s * 1000));
  pollfd fds[3] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}, {in_fd, POLLOUT, 0}};
  int open_fds = 2;
  char buf[65536];
  while (open_fds > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      kill(pid, SIGKILL);
      r.timed_out = true;
      break;
    }
    fds[2].fd = in_fd;
    int n = poll(fds, 3, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (in_fd >= 0 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t w = write(in_fd, stdin_text.data() + written, stdin_text.size() - written);
      if (w > 0) written += static_cast<std::size_t>(w);
      if (w < 0 && errno != EAGAIN) written = stdin_text.size();  // the child closed stdin
      if (written == stdin_text.size()) {
        close(in_fd);
        in_fd = -1;
      }
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t got = read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        (i == 0 ? r.out : r.err).append(buf, static_cast<std::size_t>(got));
      } else {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (int i = 0; i < 2; ++i)
    if (fds[i].fd >= 0) close(fds[i].fd);
  if (in_fd >= 0) close(in_fd);
  int st = 0;
  waitpid(pid, &st, 0);
  if (WIFEXITED(st)) r.status = WEXITSTATUS(st);
  if (WIFSIGNALED(st)) {
    r.signaled = true;
    r.signal = WTERMSIG(st);
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

// Whether `path` is an executable file (the matcalc binary, before a test runs it).
// A process's outcome for a test failure message: the status (a signal, a
// timeout) and the first 2000 bytes of stdout and of stderr.
inline std::string describe(const ProcessResult& r) {
  return "status " + std::to_string(r.status) + (r.signaled ? " (signal " + std::to_string(r.signal) + ")" : "") +
         (r.timed_out ? " (timed out)" : "") + "\n--- stdout ---\n" + r.out.substr(0, 2000) + "\n--- stderr ---\n" +
         r.err.substr(0, 2000);
}

inline bool executable_exists(const char* path) {
  struct stat st;
  return stat(path, &st) == 0 && (st.st_mode & S_IXUSR);
}

}  // namespace matcalc::testing

// Skips a test that runs MATCALC_BINARY when it has not been built.
#define REQUIRE_BINARY()                                    \
  if (!matcalc::testing::executable_exists(MATCALC_BINARY)) \
  GTEST_SKIP() << "matcalc binary not built: " << MATCALC_BINARY
