// Files compiled into the binary (see cmake/EmbedFiles.cmake), e.g. the built-in catalog.
#pragma once

#include <span>
#include <string_view>

namespace awan {

struct EmbeddedFile {
  std::string_view name;     // file name without folders, e.g. "aws.yaml"
  std::string_view content;  // the file's bytes
};

}  // namespace awan
