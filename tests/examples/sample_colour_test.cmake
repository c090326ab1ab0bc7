# End-to-end test of colour image output (cmake -P): vaegan sample on checkpoints of RGB
# models writes 4-dim IDX files [N, 3, H, W] and RGB PNG grids, vaegan reconstruct a 4-dim
# IDX file, vaegan interpolate RGB strips; gray input for a colour model and PNG output for
# a two-channel one are refused; vaegan eval reads colour files and refuses them for a classifier of another image size. make_colour_fixture writes the
# untrained checkpoints and the input files (no colour data set needed).
#
#   -DVAEGAN=<vaegan> -DMAKE_FIXTURE=<make_colour_fixture>
#   -DWORK_DIR=<scratch directory>
foreach(_var VAEGAN MAKE_FIXTURE WORK_DIR)
  if(NOT DEFINED ${_var})
    message(FATAL_ERROR "sample_colour_test.cmake: -D${_var}=... is required")
  endif()
endforeach()
set(SAMPLER "${VAEGAN};sample")

include("${CMAKE_CURRENT_LIST_DIR}/test_helpers.cmake")

function(expect_missing path)
  if(EXISTS "${path}")
    message(FATAL_ERROR "${path} should not exist")
  endif()
endfunction()

# The first `bytes` bytes of a file as lowercase hex.
function(head_hex path bytes var)
  if(NOT EXISTS "${path}")
    message(FATAL_ERROR "missing output file ${path}")
  endif()
  file(READ "${path}" _hex LIMIT ${bytes} HEX)
  set(${var} "${_hex}" PARENT_SCOPE)
endfunction()

# A u32 as 8 lowercase hex digits, big-endian.
function(hex32 value var)
  math(EXPR _hex "${value}" OUTPUT_FORMAT HEXADECIMAL)
  string(SUBSTRING "${_hex}" 2 -1 _hex)
  string(LENGTH "${_hex}" _len)
  while(_len LESS 8)
    string(PREPEND _hex "0")
    math(EXPR _len "${_len} + 1")
  endwhile()
  string(TOLOWER "${_hex}" _hex)
  set(${var} "${_hex}" PARENT_SCOPE)
endfunction()

# A 4-dim IDX file of `count` images [channels, 12, 12]: magic 0x00000804, the four
# dimensions, the exact size.
function(expect_idx4 path count channels)
  hex32(${count} _count)
  hex32(${channels} _channels)
  head_hex("${path}" 20 _head)
  set(_want "00000804${_count}${_channels}0000000c0000000c")
  if(NOT _head STREQUAL _want)
    message(FATAL_ERROR "${path}: IDX header ${_head}, expected ${_want}")
  endif()
  file(SIZE "${path}" _size)
  math(EXPR _expected "20 + ${count} * ${channels} * 144")
  if(NOT _size EQUAL _expected)
    message(FATAL_ERROR "${path} has ${_size} bytes, expected ${_expected}")
  endif()
endfunction()

# A PNG of width x height 8-bit RGB pixels (IHDR: width, height, bit depth 8, colour type 2).
function(expect_rgb_png path width height)
  hex32(${width} _w)
  hex32(${height} _h)
  head_hex("${path}" 26 _head)
  string(SUBSTRING "${_head}" 0 16 _signature)
  string(SUBSTRING "${_head}" 32 20 _ihdr)
  if(NOT _signature STREQUAL "89504e470d0a1a0a")
    message(FATAL_ERROR "${path} is not a PNG (starts with ${_head})")
  endif()
  if(NOT _ihdr STREQUAL "${_w}${_h}0802")
    message(FATAL_ERROR "${path}: IHDR ${_ihdr}, expected ${_w}${_h}0802 (${width}x${height}, 8-bit RGB)")
  endif()
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
set(FIX "${WORK_DIR}/fixture")
set(OUT "${WORK_DIR}/out")
file(MAKE_DIRECTORY "${OUT}")
run(fixture "${MAKE_FIXTURE}" "${FIX}")
expect_exit(fixture 0)

# ---- a VAE-GAN of RGB images: samples, a grid, reconstructions, interpolations ------------
run(vaegan "${SAMPLER}" --checkpoint "${FIX}/vaegan.vgck" --samples 10 --idx "${OUT}/generated.idx"
    --png "${OUT}/generated.png" --threads 1)
expect_exit(vaegan 0)
expect_in(vaegan out "image=3x12x12")
run(recon "${VAEGAN}" reconstruct --checkpoint "${FIX}/vaegan.vgck" --images "${FIX}/colour-images-idx"
    --idx "${OUT}/recon.idx.gz" --threads 1)
expect_exit(recon 0)
run(interp "${VAEGAN}" interpolate --checkpoint "${FIX}/vaegan.vgck" --images "${FIX}/colour-images-idx"
    --png "${OUT}/interp.png" --pairs 2 --steps 3 --threads 1)
expect_exit(interp 0)
expect_idx4("${OUT}/generated.idx" 10 3)
# 10 images: 4 columns, 3 rows of 12x12 with 2 pixels of padding, scaled by 2.
expect_rgb_png("${OUT}/generated.png" 116 88)
# 2 strips of 3 steps.
expect_rgb_png("${OUT}/interp.png" 88 60)
# The reconstructions, gzip-compressed by name: the gzip magic, then what vaegan eval reads.
head_hex("${OUT}/recon.idx.gz" 2 _gz)
if(NOT _gz STREQUAL "1f8b")
  message(FATAL_ERROR "${OUT}/recon.idx.gz is not gzip (starts with ${_gz})")
endif()

# ---- a GAN of RGB images: samples and a grid ----------------------------------------------
run(gan "${SAMPLER}" --checkpoint "${FIX}/gan.vgck" --samples 3 --idx "${OUT}/gan.idx" --png "${OUT}/gan.png"
    --threads 1)
expect_exit(gan 0)
expect_idx4("${OUT}/gan.idx" 3 3)
expect_rgb_png("${OUT}/gan.png" 60 60)  # 2 columns, 2 rows

# ---- a model the program composed (no preset): vaegan sample rebuilds its decoder from the
# structure the checkpoint records and writes exactly the trainer's own samples ------------
run(composed "${SAMPLER}" --checkpoint "${FIX}/composed.vgck" --samples 6 --seed 1 --idx "${OUT}/composed.idx"
    --png "${OUT}/composed.png" --threads 1)
expect_exit(composed 0)
expect_in(composed out "vaegan checkpoint at step 0 (a composed model)")
file(SHA256 "${OUT}/composed.idx" _composed)
file(SHA256 "${FIX}/composed-expected-idx" _expected)
if(NOT _composed STREQUAL _expected)
  message(FATAL_ERROR "vaegan sample of the composed checkpoint differs from the trainer's own samples")
endif()
expect_rgb_png("${OUT}/composed.png" 88 60)  # 6 images: 3 columns, 2 rows
run(composed_recon "${VAEGAN}" reconstruct --checkpoint "${FIX}/composed.vgck" --images "${FIX}/colour-images-idx"
    --idx "${OUT}/composed-recon.idx")
expect_error(composed_recon 1 "holds a model the program composed itself" "vaegan sample and vaegan export work for it")

# ---- wrong input: gray images for a colour model; a PNG of two-channel images -------------
run(gray_input "${VAEGAN}" reconstruct --checkpoint "${FIX}/vaegan.vgck" --images "${FIX}/gray-images-idx"
    --idx "${OUT}/x-recon.idx")
expect_error(gray_input 1 "${FIX}/gray-images-idx: images are 12x12 but the model expects 3x12x12 (432 values)"
             "pass --images an IDX file of 3x12x12 images")
expect_missing("${OUT}/x-recon.idx")

run(two_png "${SAMPLER}" --checkpoint "${FIX}/two-channels.vgck" --samples 4 --idx "${OUT}/two.idx"
    --png "${OUT}/two.png")
expect_error(two_png 1 "image shape [2, 12, 12] is not [C, H, W] with C = 1 (gray) or 3 (RGB)"
             "write the images as IDX with vaegan sample --idx instead")
expect_missing("${OUT}/two.idx")
expect_missing("${OUT}/two.png")
run(two_idx "${SAMPLER}" --checkpoint "${FIX}/two-channels.vgck" --samples 4 --idx "${OUT}/two.idx")
expect_exit(two_idx 0)
expect_idx4("${OUT}/two.idx" 4 2)

# ---- vaegan eval reads colour files; a classifier of gray 28x28 images refuses them by size --
set(EVAL_COMMON "${VAEGAN}" eval --classifier "${FIX}/classifier.vgck" --threads 1)
run(eval_generated ${EVAL_COMMON} --real "${FIX}/gray28-images-idx" --generated "${OUT}/generated.idx")
expect_error(eval_generated 1 "${OUT}/generated.idx: images have 432 values per image, the real set 784")
run(eval_real ${EVAL_COMMON} --real "${OUT}/recon.idx.gz" --floor)
expect_error(eval_real 1 "${OUT}/recon.idx.gz: images have 432 values per image but the classifier expects 784")
expect_no_temporaries("${WORK_DIR}")
message(STATUS "sample_colour_test: all checks passed")
