# Runs the evaluation tools end to end on a tiny generated dataset: vaegan classifier for
# two epochs, then vaegan eval scoring the test images against themselves (FID 0,
# precision and recall 1), its JSON output, and how both fail on bad input. A CMake
# script (cmake -P) like run_example_test.cmake, so it needs nothing but CMake itself.
# Variables (all required):
#   (vaegan classifier trains the classifier)
#   VAEGAN            the vaegan program (its eval command)
#   MAKE_DATA         make_tiny_mnist
#   WORK_DIR          a scratch directory, emptied first
cmake_minimum_required(VERSION 3.16)

foreach(_var VAEGAN MAKE_DATA WORK_DIR)
  if(NOT DEFINED ${_var} OR "${${_var}}" STREQUAL "")
    message(FATAL_ERROR "eval_tool_test.cmake: -D${_var}=... is required")
  endif()
endforeach()
set(TRAIN_CLASSIFIER "${VAEGAN};classifier")
set(COMPARE "${VAEGAN};compare")

# The tiny dataset: 256 training images (8 batches of 32 an epoch) and 64 test images.
set(TRAIN_COUNT 256)
set(TEST_COUNT 64)
math(EXPR HALF "${TEST_COUNT} / 2")

# ---- helpers ---------------------------------------------------------------------------------

include("${CMAKE_CURRENT_LIST_DIR}/test_helpers.cmake")

# match(<prefix> <stream> <regex> <var>): the first capture group of `regex` in the stream.
function(match prefix stream regex var)
  if(NOT "${${prefix}_${stream}}" MATCHES "${regex}")
    fail(${prefix} "expected std${stream} to match \"${regex}\"")
  endif()
  set(${var} "${CMAKE_MATCH_1}" PARENT_SCOPE)
endfunction()

# expect_number(<prefix> <what> <value> <op> <bound>): e.g. FID LESS 0.0005. CMake's if()
# compares decimal numbers as doubles.
function(expect_number prefix what value op bound)
  if(NOT value MATCHES "^-?[0-9]+(\\.[0-9]*)?([eE][-+]?[0-9]+)?$")
    fail(${prefix} "${what} is '${value}', not a number")
  endif()
  if(NOT value ${op} bound)
    fail(${prefix} "expected ${what} ${op} ${bound}, got ${value}")
  endif()
endfunction()

# ---- the dataset and the classifier ---------------------------------------------------------
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(DATA "${WORK_DIR}/data")
set(TEST_IMAGES "${DATA}/t10k-images-idx3-ubyte")
set(TRAIN_IMAGES "${DATA}/train-images-idx3-ubyte")
set(DATA_PNG "${WORK_DIR}/first-digits.png")  # a PNG file, for the wrong-file-type checks
run(data "${MAKE_DATA}" "${DATA}" ${TRAIN_COUNT} ${TEST_COUNT} 11 --png "${DATA_PNG}")
expect_exit(data 0)

# In a directory that does not exist yet: vaegan classifier makes it before training.
set(CLASSIFIER "${WORK_DIR}/models/classifier.vgck")
run(train "${TRAIN_CLASSIFIER}" --data "${DATA}" --classifier "${CLASSIFIER}" --epochs 2 --batch-size 32 --threads 1)
expect_exit(train 0)
expect_in(train out "epoch 2/2")
expect_in(train out "${TRAIN_COUNT} train / ${TEST_COUNT} test images")
expect_in(train out "saved ${CLASSIFIER}")
match(train out "test accuracy ([0-9.]+), train accuracy" accuracy)
expect_number(train "test accuracy" "${accuracy}" LESS_EQUAL 1)
if(NOT EXISTS "${CLASSIFIER}")
  message(FATAL_ERROR "vaegan classifier reported success but wrote no ${CLASSIFIER}")
endif()

set(EVAL "${VAEGAN};eval")
set(EVAL_COMMON "${EVAL}" --classifier "${CLASSIFIER}" --threads 1)

# ---- the test set against itself: FID 0, precision and recall 1, and the floor --------------
run(self ${EVAL_COMMON} --real "${TEST_IMAGES}" --generated "${TEST_IMAGES}" --floor)
expect_exit(self 0)
expect_in(self out "${TEST_IMAGES}: ${TEST_COUNT} images")
match(self out "\n  FID ([^\n ]+)\n" fid)
expect_number(self "FID of a set against itself" "${fid}" LESS 0.0005)  # prints as 0.000
expect_in(self out "precision 1.000  recall 1.000")
match(self out "classes covered ([0-9]+)/10" covered)
expect_number(self "classes covered" "${covered}" GREATER_EQUAL 1)
expect_number(self "classes covered" "${covered}" LESS_EQUAL 10)
match(self out "FID floor \\(two disjoint halves of [^\n]*, ${HALF} images each\\): ([^\n]+)\n" floor)
# Two different halves of a set are not the same Gaussian: the floor is above 0.
expect_number(self "FID floor" "${floor}" GREATER 0.001)

# The same as JSON: one line, every key, the same numbers.
run(json ${EVAL_COMMON} --real "${TEST_IMAGES}" --generated "${TEST_IMAGES}" --floor --format json)
expect_exit(json 0)
string(STRIP "${json_out}" json)
if(NOT json MATCHES "^{[^\n]*}$")
  fail(json "expected one JSON object on one line")
endif()
set(keys generated count fid precision recall classes_covered kl_to_uniform fid_floor)
if(CMAKE_VERSION VERSION_GREATER_EQUAL 3.19)
  # string(JSON) parses it: a syntax error fails here.
  foreach(key IN LISTS keys)
    string(JSON value ERROR_VARIABLE error GET "${json}" ${key})
    if(error)
      fail(json "JSON key '${key}': ${error}")
    endif()
    set(json_${key} "${value}")
  endforeach()
else()
  foreach(key IN LISTS keys)
    if(NOT json MATCHES "\"${key}\": (\"[^\"]*\"|[^,}]+)")
      fail(json "expected the key \"${key}\" with a value")
    endif()
    string(REGEX REPLACE "^\"(.*)\"$" "\\1" value "${CMAKE_MATCH_1}")
    set(json_${key} "${value}")
  endforeach()
endif()
if(NOT json_generated STREQUAL TEST_IMAGES OR NOT json_count EQUAL TEST_COUNT)
  fail(json "expected generated = ${TEST_IMAGES} and count = ${TEST_COUNT}")
endif()
expect_number(json "JSON fid" "${json_fid}" LESS 1e-6)
expect_number(json "JSON precision" "${json_precision}" EQUAL 1)
expect_number(json "JSON recall" "${json_recall}" EQUAL 1)
expect_number(json "JSON classes_covered" "${json_classes_covered}" EQUAL ${covered})
expect_number(json "JSON fid_floor" "${json_fid_floor}" GREATER 0.001)

# Only the floor: the scores that were not computed are null, not 0.
run(floor_only ${EVAL_COMMON} --real "${TEST_IMAGES}" --floor --format json)
expect_exit(floor_only 0)
expect_in(floor_only out "\"fid\": null")
expect_in(floor_only out "\"generated\": null")
expect_in(floor_only out "\"fid_floor\": ")
string(FIND "${floor_only_out}" "\"fid_floor\": null" _at)
if(NOT _at EQUAL -1)
  fail(floor_only "expected a number for fid_floor")
endif()

# The training images against the test images: a real distance, scores within [0, 1].
run(other ${EVAL_COMMON} --real "${TEST_IMAGES}" --generated "${TRAIN_IMAGES}" --format json)
expect_exit(other 0)
match(other out "\"fid\": ([^,]+)," other_fid)
expect_number(other "FID of the training set against the test set" "${other_fid}" GREATER 0.001)
match(other out "\"precision\": ([^,]+)," other_precision)
expect_number(other "precision" "${other_precision}" LESS_EQUAL 1)
match(other out "\"count\": ([^,]+)," other_count)
expect_number(other "count" "${other_count}" EQUAL ${TRAIN_COUNT})

# ---- usage errors: exit 2, one line naming the problem --------------------------------------
# Without --real, the test images of --data are the real set; where they are missing, an I/O
# error (exit 1) that names --real and how to fetch the data.
run(default_real ${EVAL_COMMON} --data "${DATA}" --generated "${TEST_IMAGES}" --format json)
expect_exit(default_real 0)
expect_in(default_real out "t10k-images-idx3-ubyte")
match(default_real out "\"fid\": ([^,]+)," default_real_fid)
expect_number(default_real "FID of the default real set against itself" "${default_real_fid}" LESS 0.0005)

run(no_real ${EVAL_COMMON} --data "${WORK_DIR}/no-such-dir" --generated "${TEST_IMAGES}")
expect_exit(no_real 1)
expect_one_line_on_stderr(no_real)
expect_in(no_real err "--real")
expect_in(no_real err "no-such-dir")

run(nothing ${EVAL_COMMON} --real "${TEST_IMAGES}")
expect_exit(nothing 2)
expect_one_line_on_stderr(nothing)
expect_in(nothing err "--generated")

run(format ${EVAL_COMMON} --real "${TEST_IMAGES}" --generated "${TEST_IMAGES}" --format xml)
expect_exit(format 2)
expect_one_line_on_stderr(format)
expect_in(format err "--format")

run(train_epochs "${TRAIN_CLASSIFIER}" --data "${DATA}" --classifier "${WORK_DIR}/c2.vgck" --epochs 0)
expect_exit(train_epochs 2)
expect_one_line_on_stderr(train_epochs)
expect_in(train_epochs err "--epochs")

run(k0 ${EVAL_COMMON} --real "${TEST_IMAGES}" --generated "${TEST_IMAGES}" --k 0)
expect_error(k0 2 "--k must be 1..100, got 0")

run(train_batch_neg "${TRAIN_CLASSIFIER}" --data "${DATA}" --classifier "${WORK_DIR}/c2.vgck" --batch-size -5)
expect_error(train_batch_neg 2 "--batch-size must be >= 1" "got -5")

math(EXPR too_big "${TRAIN_COUNT} + 1")
run(train_big_batch "${TRAIN_CLASSIFIER}" --data "${DATA}" --classifier "${WORK_DIR}/c2.vgck" --batch-size ${too_big}
    --epochs 1 --threads 1)
expect_error(train_big_batch 2 "larger than the training set (${TRAIN_COUNT} images)" "pass a smaller --batch-size")

file(MAKE_DIRECTORY "${WORK_DIR}/a-directory")
run(train_out_dir "${TRAIN_CLASSIFIER}" --data "${DATA}" --classifier "${WORK_DIR}/a-directory" --epochs 1)
expect_error(train_out_dir 2 "is a directory" "pass the classifier's file name")
if(EXISTS "${WORK_DIR}/c2.vgck")
  message(FATAL_ERROR "a refused vaegan classifier run wrote ${WORK_DIR}/c2.vgck")
endif()

# ---- runtime errors: exit 1 with the file and the problem -----------------------------------
set(MISSING "${WORK_DIR}/no-such-images")
run(no_generated ${EVAL_COMMON} --real "${TEST_IMAGES}" --generated "${MISSING}")
expect_exit(no_generated 1)
expect_in(no_generated err "${MISSING}")
expect_in(no_generated err "no such file")

run(no_classifier "${EVAL}" --classifier "${WORK_DIR}/none.vgck" --real "${TEST_IMAGES}"
    --generated "${TEST_IMAGES}")
expect_exit(no_classifier 1)
expect_in(no_classifier err "${WORK_DIR}/none.vgck")

run(too_few ${EVAL_COMMON} --real "${TEST_IMAGES}" --generated "${TEST_IMAGES}" --k 100)
expect_error(too_few 1 "k = 100" "pass a smaller --k or more images")

run(train_no_data "${TRAIN_CLASSIFIER}" --data "${MISSING}" --classifier "${WORK_DIR}/c3.vgck" --epochs 1)
expect_exit(train_no_data 1)
expect_in(train_no_data err "${MISSING}")
expect_in(train_no_data err "scripts/get_mnist.sh")
if(EXISTS "${WORK_DIR}/c3.vgck")
  message(FATAL_ERROR "vaegan classifier wrote a classifier without data")
endif()

# The classifier takes the data set's image size (a valid dataset of 32x32 images); scoring
# 28x28 images with it is refused, naming both sizes.
set(DATA32 "${WORK_DIR}/data-32x32")
run(data32 "${MAKE_DATA}" "${DATA32}" ${TRAIN_COUNT} ${TEST_COUNT} 11 --side 32)
expect_exit(data32 0)
run(train_32 "${TRAIN_CLASSIFIER}" --data "${DATA32}" --classifier "${WORK_DIR}/c32.vgck" --epochs 1 --threads 1)
expect_exit(train_32 0)
run(eval_32 "${EVAL}" --classifier "${WORK_DIR}/c32.vgck" --threads 1 --real "${TEST_IMAGES}" --generated "${TEST_IMAGES}")
expect_error(eval_32 1 "images have 784 values per image but the classifier expects 1024")

# A labels file as images: refused before training, and no output directory is left behind.
set(SWAPPED "${WORK_DIR}/data-swapped")
file(MAKE_DIRECTORY "${SWAPPED}")
configure_file("${DATA}/train-labels-idx1-ubyte" "${SWAPPED}/train-images-idx3-ubyte" COPYONLY)
configure_file("${DATA}/train-images-idx3-ubyte" "${SWAPPED}/train-labels-idx1-ubyte" COPYONLY)
run(train_swapped "${TRAIN_CLASSIFIER}" --data "${SWAPPED}" --classifier "${WORK_DIR}/new-dir/c.vgck" --epochs 1)
expect_error(train_swapped 1 "${SWAPPED}/train-images-idx3-ubyte" "swapped" "scripts/get_mnist.sh")
if(EXISTS "${WORK_DIR}/new-dir")
  message(FATAL_ERROR "a failed vaegan classifier run left ${WORK_DIR}/new-dir behind")
endif()

# Files of the wrong type for vaegan eval: a labels file, a PNG and a text file as images,
# and a text file as the classifier.
run(gen_labels ${EVAL_COMMON} --real "${TEST_IMAGES}" --generated "${DATA}/t10k-labels-idx1-ubyte")
expect_error(gen_labels 1 "${DATA}/t10k-labels-idx1-ubyte" "labels file" "--generated takes an IDX images file")
run(gen_png ${EVAL_COMMON} --real "${TEST_IMAGES}" --generated "${DATA_PNG}")
expect_error(gen_png 1 "${DATA_PNG}" "not an IDX file" "--generated takes an IDX images file")
file(WRITE "${WORK_DIR}/text-file" "0,0,0,12,255,255\n")
run(real_text ${EVAL_COMMON} --real "${WORK_DIR}/text-file" --generated "${TEST_IMAGES}")
expect_error(real_text 1 "${WORK_DIR}/text-file" "not an IDX file" "--real takes an IDX images file")
run(classifier_text "${EVAL}" --classifier "${WORK_DIR}/text-file" --real "${TEST_IMAGES}"
    --generated "${TEST_IMAGES}")
expect_error(classifier_text 1 "${WORK_DIR}/text-file" "pass --classifier a file that vaegan classifier wrote")
run(eval_size ${EVAL_COMMON} --real "${TEST_IMAGES}" --generated "${DATA32}/t10k-images-idx3-ubyte")
expect_error(eval_size 1 "${DATA32}/t10k-images-idx3-ubyte: images have 1024 values per image, the real set 784"
             "pass --generated images of the same size as --real")

# --classifier under a regular file: refused before any training time is spent.
set(BLOCKER "${WORK_DIR}/a-regular-file")
file(WRITE "${BLOCKER}" "not a directory\n")
run(train_blocked "${TRAIN_CLASSIFIER}" --data "${DATA}" --classifier "${BLOCKER}/classifier.vgck" --epochs 1
    --batch-size 32 --threads 1)
expect_exit(train_blocked 1)
expect_in(train_blocked err "${BLOCKER}")
expect_in(train_blocked err "--classifier")
string(FIND "${train_blocked_out}" "epoch 1/1" _at)
if(NOT _at EQUAL -1)
  fail(train_blocked "expected the bad --classifier to be refused before training")
endif()

# Generated images of the wrong size: five 2x2 images. CMake strings cannot hold a NUL
# byte, which the big-endian IDX header needs, so one is cut from the header of an IDX file
# that make_tiny_mnist wrote (file(DOWNLOAD RANGE_*), CMake 3.24) and the file is put
# together with cmake -E cat.
if(CMAKE_VERSION VERSION_LESS 3.24)
  message(STATUS "eval_tool_test: CMake ${CMAKE_VERSION} < 3.24 cannot write binary files; "
                 "skipping the check of generated images of the wrong size")
else()
  set(PIECES "${WORK_DIR}/pieces")
  file(MAKE_DIRECTORY "${PIECES}")
  file(DOWNLOAD "file://${TEST_IMAGES}" "${PIECES}/00" RANGE_START 0 RANGE_END 0 STATUS _status)
  list(GET _status 0 _code)
  if(NOT _code EQUAL 0)
    message(FATAL_ERROR "eval_tool_test: cannot copy a byte out of ${TEST_IMAGES}: ${_status}")
  endif()
  foreach(_byte 2 3 5 8)
    string(ASCII ${_byte} _char)
    file(WRITE "${PIECES}/0${_byte}" "${_char}")
  endforeach()
  file(WRITE "${PIECES}/pixels" "abcdefghijklmnopqrst")  # 5 x 2 x 2 bytes
  set(_p "${PIECES}")
  set(WRONG_SIZE "${WORK_DIR}/two-by-two-idx3-ubyte")
  # magic 00000803, count 00000005, rows 00000002, cols 00000002, pixels
  execute_process(COMMAND "${CMAKE_COMMAND}" -E cat
                          ${_p}/00 ${_p}/00 ${_p}/08 ${_p}/03 ${_p}/00 ${_p}/00 ${_p}/00 ${_p}/05
                          ${_p}/00 ${_p}/00 ${_p}/00 ${_p}/02 ${_p}/00 ${_p}/00 ${_p}/00 ${_p}/02 ${_p}/pixels
                  OUTPUT_FILE "${WRONG_SIZE}" RESULT_VARIABLE _rc)
  file(READ "${WRONG_SIZE}" _head LIMIT 16 HEX)
  if(NOT _rc EQUAL 0 OR NOT _head STREQUAL "00000803000000050000000200000002")
    message(FATAL_ERROR "eval_tool_test: building ${WRONG_SIZE} failed (exit ${_rc}, header ${_head})")
  endif()

  run(wrong_size ${EVAL_COMMON} --real "${TEST_IMAGES}" --generated "${WRONG_SIZE}")
  expect_exit(wrong_size 1)
  expect_in(wrong_size err "${WRONG_SIZE}")
  expect_in(wrong_size err "4 values per image")
  expect_in(wrong_size err "784")

  # As the real set, it does not fit the classifier either.
  run(wrong_real ${EVAL_COMMON} --real "${WRONG_SIZE}" --generated "${TEST_IMAGES}")
  expect_exit(wrong_real 1)
  expect_in(wrong_real err "${WRONG_SIZE}")
  expect_in(wrong_real err "classifier expects 784")
endif()

file(REMOVE_RECURSE "${WORK_DIR}")
message(STATUS "vaegan eval and vaegan classifier: all checks passed")
