# Decides JANUS_CUDA_ENABLED from JANUS_CUDA and what is installed.
#
# cuBLAS and NVRTC headers and libraries may come from the CUDA toolkit or from
# PyPI's nvidia-* wheels (site-packages/nvidia/<lib>/{include,lib}); both are
# searched, the wheels through the Python interpreter that builds janus.

set(JANUS_CUDA_ENABLED OFF)
if(JANUS_CUDA STREQUAL "OFF")
  return()
endif()

include(CheckLanguage)
check_language(CUDA)
find_package(CUDAToolkit QUIET)

set(JANUS_NVIDIA_ROOT "" CACHE PATH "A folder laid out like site-packages/nvidia (cuBLAS, NVRTC)")
set(_janus_cuda_hints "")
if(JANUS_NVIDIA_ROOT)
  file(GLOB _janus_cuda_hints LIST_DIRECTORIES true "${JANUS_NVIDIA_ROOT}/*")
endif()
find_package(Python 3.11 QUIET COMPONENTS Interpreter)
if(Python_Interpreter_FOUND)
  execute_process(
    COMMAND "${Python_EXECUTABLE}" -c
            "import sysconfig, os; print(os.path.join(sysconfig.get_paths()['purelib'], 'nvidia'))"
    OUTPUT_VARIABLE _janus_nvidia_root OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(EXISTS "${_janus_nvidia_root}")
    file(GLOB _janus_site_hints LIST_DIRECTORIES true "${_janus_nvidia_root}/*")
    list(APPEND _janus_cuda_hints ${_janus_site_hints})
  endif()
endif()

find_path(JANUS_CUBLAS_INCLUDE cublas_v2.h
          HINTS ${CUDAToolkit_INCLUDE_DIRS} ${_janus_cuda_hints} PATH_SUFFIXES include)
find_path(JANUS_NVRTC_INCLUDE nvrtc.h
          HINTS ${CUDAToolkit_INCLUDE_DIRS} ${_janus_cuda_hints} PATH_SUFFIXES include)

set(_janus_missing "")
if(NOT CMAKE_CUDA_COMPILER)
  list(APPEND _janus_missing "nvcc")
endif()
if(NOT CUDAToolkit_FOUND)
  list(APPEND _janus_missing "the CUDA toolkit")
endif()
if(NOT JANUS_CUBLAS_INCLUDE)
  list(APPEND _janus_missing "cuBLAS headers")
endif()
if(NOT JANUS_NVRTC_INCLUDE)
  list(APPEND _janus_missing "NVRTC headers")
endif()

if(_janus_missing)
  if(JANUS_CUDA STREQUAL "ON")
    message(FATAL_ERROR "JANUS_CUDA=ON but missing: ${_janus_missing}")
  endif()
  message(STATUS "janus: building without CUDA (missing: ${_janus_missing})")
  return()
endif()

if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES 90)  # Hopper (H100/H200); override on the command line
endif()
enable_language(CUDA)
set(JANUS_CUDA_ENABLED ON)
message(STATUS "janus: building the CUDA part for sm_${CMAKE_CUDA_ARCHITECTURES}")
