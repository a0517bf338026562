# awan_embed_files(OUT_CC SYMBOL FILES...): writes a .cc defining
#   std::span<const awan::EmbeddedFile> SYMBOL()
# with each file's name and contents, so data (the built-in catalog) ships inside the binary.
function(awan_embed_files out_cc symbol)
  set(files ${ARGN})
  string(REPLACE ";" "," joined "${files}")  # a ';' list would be split by the shell
  add_custom_command(
    OUTPUT ${out_cc}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out_cc} -DSYMBOL=${symbol} "-DFILES=${joined}"
            -P ${PROJECT_SOURCE_DIR}/cmake/EmbedFilesScript.cmake
    DEPENDS ${files} ${PROJECT_SOURCE_DIR}/cmake/EmbedFilesScript.cmake
    COMMENT "Embedding ${symbol}"
    VERBATIM)
endfunction()
