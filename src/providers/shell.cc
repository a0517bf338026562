#include "shell.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace awan::providers {

std::string ShellQuote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

ShellResult RunShell(const std::string& command, const std::string& input) {
  char out_tmpl[] = "/tmp/awan-sh-out-XXXXXX";
  char err_tmpl[] = "/tmp/awan-sh-err-XXXXXX";
  char in_tmpl[] = "/tmp/awan-sh-in-XXXXXX";
  const int out_fd = mkstemp(out_tmpl), err_fd = mkstemp(err_tmpl), in_fd = mkstemp(in_tmpl);
  for (size_t done = 0; in_fd >= 0 && done < input.size();) {
    const ssize_t n = write(in_fd, input.data() + done, input.size() - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  for (int fd : {out_fd, err_fd, in_fd}) {
    if (fd >= 0) close(fd);
  }
  const std::string full = command + " <" + in_tmpl + " >" + out_tmpl + " 2>" + err_tmpl;
  const int status = std::system(full.c_str());
  ShellResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = ReadWholeFile(out_tmpl);
  r.err = ReadWholeFile(err_tmpl);
  unlink(out_tmpl);
  unlink(err_tmpl);
  unlink(in_tmpl);
  return r;
}

}  // namespace awan::providers
