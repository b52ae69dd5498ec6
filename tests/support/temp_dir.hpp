// A temporary directory for tests that write files (generated modules and
// programs), removed with everything in it when the object goes.
#pragma once
#include <filesystem>
#include <stdexcept>
#include <string>
#include <unistd.h>

namespace matcalc::testing {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "matcalc") {
    std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "_XXXXXX")).string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace matcalc::testing
