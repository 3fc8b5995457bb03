# Finds the BLAS of the CPU runtime: scipy-openblas64 from PyPI (OpenBLAS with
# 64-bit ints and prefixed symbols, so it never clashes with numpy's own copy).
# Sets JANUS_BLAS_ENABLED and the imported target janus::blas.

set(JANUS_BLAS_ENABLED OFF)
find_package(Python 3.11 QUIET COMPONENTS Interpreter)
if(NOT Python_Interpreter_FOUND)
  message(STATUS "janus: building without BLAS (no Python interpreter to locate scipy-openblas64)")
  return()
endif()
execute_process(
  COMMAND "${Python_EXECUTABLE}" -c
          "import scipy_openblas64 as o; print(o.get_include_dir()); print(o.get_lib_dir()); print(o.get_library())"
  OUTPUT_VARIABLE _janus_blas RESULT_VARIABLE _janus_blas_status ERROR_QUIET
  OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT _janus_blas_status EQUAL 0)
  message(STATUS "janus: building without BLAS (scipy-openblas64 is not installed for "
                 "${Python_EXECUTABLE})")
  return()
endif()
string(REPLACE "\n" ";" _janus_blas "${_janus_blas}")
list(GET _janus_blas 0 JANUS_BLAS_INCLUDE)
list(GET _janus_blas 1 JANUS_BLAS_LIBDIR)
list(GET _janus_blas 2 _janus_blas_name)
find_library(JANUS_BLAS_LIBRARY NAMES ${_janus_blas_name} PATHS ${JANUS_BLAS_LIBDIR} NO_DEFAULT_PATH)
if(NOT JANUS_BLAS_LIBRARY)
  message(STATUS "janus: building without BLAS (lib${_janus_blas_name} not found)")
  return()
endif()
add_library(janus::blas SHARED IMPORTED)
set_target_properties(janus::blas PROPERTIES IMPORTED_LOCATION "${JANUS_BLAS_LIBRARY}"
                                             INTERFACE_INCLUDE_DIRECTORIES "${JANUS_BLAS_INCLUDE}"
                                             INTERFACE_COMPILE_DEFINITIONS JANUS_HAS_BLAS=1)
set(JANUS_BLAS_ENABLED ON)
message(STATUS "janus: BLAS from ${JANUS_BLAS_LIBRARY}")
