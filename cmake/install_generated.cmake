# cmake/install_generated.cmake: the installed files whose text names the
# install prefix, written when `cmake --install` runs (CMakeLists.txt includes
# this from an install(CODE) rule that sets the KF_* variables below).
#
#   <libdir>/pkgconfig/kfleet.pc    from cmake/kfleet.pc.in
#   <datadir>/kfleet/examples/*.json config/examples/*.json, with the handler
#                                   paths that point into the build tree
#                                   ("build/handlers/<name>.so") pointing at
#                                   the installed handlers instead
#
# They cannot be written at configure time: `cmake --install <build> --prefix
# P` replaces the prefix afterwards, and only here is CMAKE_INSTALL_PREFIX the
# one in use. file(INSTALL) adds DESTDIR and records each file in
# install_manifest.txt, as install(FILES) does.

foreach(var KF_PROJECT_VERSION KF_PC_TEMPLATE KF_STAGING_DIR KF_INCLUDEDIR KF_LIBDIR
    KF_HANDLERDIR KF_EXAMPLESDIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "install_generated.cmake: ${var} is not set")
  endif()
endforeach()

# A GNUInstallDirs directory as kfleet.pc writes it: under ${prefix} when it
# is relative (so `pkg-config --define-variable=prefix=...` moves it too).
function(pc_dir out dir)
  if(IS_ABSOLUTE "${dir}")
    set(${out} "${dir}" PARENT_SCOPE)
  else()
    set(${out} "\${prefix}/${dir}" PARENT_SCOPE)
  endif()
endfunction()

# The same directory as an absolute path on the installed system.
function(full_dir out dir)
  if(IS_ABSOLUTE "${dir}")
    set(${out} "${dir}" PARENT_SCOPE)
  else()
    set(${out} "${CMAKE_INSTALL_PREFIX}/${dir}" PARENT_SCOPE)
  endif()
endfunction()

set(KF_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
pc_dir(KF_PC_INCLUDEDIR "${KF_INCLUDEDIR}")
pc_dir(KF_PC_LIBDIR "${KF_LIBDIR}")
# handlerdir is spelled with ${libdir} when it sits under it, as it does by default.
set(KF_PC_HANDLERDIR "\${libdir}/kfleet/handlers")
if(NOT KF_HANDLERDIR STREQUAL "${KF_LIBDIR}/kfleet/handlers")
  pc_dir(KF_PC_HANDLERDIR "${KF_HANDLERDIR}")
endif()
configure_file("${KF_PC_TEMPLATE}" "${KF_STAGING_DIR}/kfleet.pc" @ONLY)
full_dir(pc_dest "${KF_LIBDIR}/pkgconfig")
file(INSTALL "${KF_STAGING_DIR}/kfleet.pc" DESTINATION "${pc_dest}")

full_dir(handler_dir "${KF_HANDLERDIR}")
full_dir(examples_dest "${KF_EXAMPLESDIR}")
set(examples)
foreach(src ${KF_EXAMPLE_CONFIGS})
  get_filename_component(name "${src}" NAME)
  file(READ "${src}" text)
  string(REPLACE "\"build/handlers/" "\"${handler_dir}/" text "${text}")
  # Rewritten only when the text changes, so a second install reports them up to date.
  set(staged "${KF_STAGING_DIR}/examples/${name}")
  set(old "")
  if(EXISTS "${staged}")
    file(READ "${staged}" old)
  endif()
  if(NOT old STREQUAL text)
    file(WRITE "${staged}" "${text}")
  endif()
  list(APPEND examples "${staged}")
endforeach()
if(examples)
  file(INSTALL ${examples} DESTINATION "${examples_dest}")
endif()
