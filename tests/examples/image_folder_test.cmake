# --dataset folder:PATH end to end on a generated folder of RGB PNGs (make_tiny_mnist's
# digits, tinted per class by make_image_folder): the mlp and conv presets train on it (the
# conv one resized to 32x32 by --image-size), the sample grid is an RGB PNG,
# train_classifier learns its classes and vaegan eval scores against its test split (and a
# flat folder's rotation classifier scores FID without coverage); then
# every bad folder and flag the issue names: each exits 1 or 2 with one line naming the
# file and the fix, and leaves no output directory behind.
# Variables (all required): VAEGAN, TRAIN_CLASSIFIER, MAKE_DATA, MAKE_FOLDER, WORK_DIR.
cmake_minimum_required(VERSION 3.16)

foreach(_var VAEGAN MAKE_DATA MAKE_FOLDER WORK_DIR)
  if(NOT DEFINED ${_var} OR "${${_var}}" STREQUAL "")
    message(FATAL_ERROR "image_folder_test.cmake: -D${_var}=... is required")
  endif()
endforeach()
set(TRAIN_CLASSIFIER "${VAEGAN};classifier")
set(COMPARE "${VAEGAN};compare")
set(TRAIN "${VAEGAN};train")
set(EVAL "${VAEGAN};eval")
set(SAMPLER "${VAEGAN};sample")
include("${CMAKE_CURRENT_LIST_DIR}/test_helpers.cmake")

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(IDX "${WORK_DIR}/idx")
set(FOLDER "${WORK_DIR}/colour")
run(idx "${MAKE_DATA}" "${IDX}" 300 10 5)
expect_exit(idx 0)
run(folder "${MAKE_FOLDER}" "${IDX}" "${FOLDER}" --rgb)
expect_exit(folder 0)
file(WRITE "${FOLDER}/README.txt" "not an image: skipped\n")

# ---- training: the data's shape is the model's -----------------------------------------------
run(mlp "${TRAIN}" --dataset folder:${FOLDER} --channels 3 --max-steps 2 --batch-size 16 --samples 4 --threads 1
    --out "${WORK_DIR}/mlp")
expect_exit(mlp 0)
expect_in(mlp out "loading the image folder '${FOLDER}'")
expect_in(mlp out "270 training images")  # 30 per class, 3 of each held out (--test-fraction 0.1)
# samples.png is RGB: the IHDR colour type (byte 25) is 2.
file(READ "${WORK_DIR}/mlp/samples.png" _colour_type HEX OFFSET 25 LIMIT 1)
if(NOT _colour_type STREQUAL "02")
  fail(mlp "samples.png has PNG colour type ${_colour_type}, expected 02 (RGB)")
endif()

run(conv "${TRAIN}" --dataset folder:${FOLDER} --channels 3 --image-size 32 --preset conv --max-steps 1
    --batch-size 8 --samples 4 --threads 1 --out "${WORK_DIR}/conv")
expect_exit(conv 0)
expect_in(conv out "preset conv")

# ---- evaluation: a classifier of the folder's classes, scored against its test split -------
run(classifier "${TRAIN_CLASSIFIER}" --dataset folder:${FOLDER} --channels 3 --epochs 2 --batch-size 32
    --threads 1 --classifier "${WORK_DIR}/classifier.vgck")
expect_exit(classifier 0)
expect_in(classifier out "270 train / 30 test images")
# Generated colour images (vaegan sample writes [N, 3, 28, 28] IDX) against the test split.
run(sample "${SAMPLER}" --checkpoint "${WORK_DIR}/mlp/checkpoint.vgck" --samples 40 --idx "${WORK_DIR}/generated.idx")
expect_exit(sample 0)
run(eval "${EVAL}" --dataset folder:${FOLDER} --channels 3 --classifier "${WORK_DIR}/classifier.vgck" --floor
    --k 2 --threads 1 --generated "${WORK_DIR}/generated.idx" --format json)
expect_exit(eval 0)
if(NOT eval_out MATCHES "\"fid\": [0-9]" OR NOT eval_out MATCHES "\"fid_floor\": [0-9]")
  fail(eval "expected numbers for fid and fid_floor")
endif()
run(eval_text "${EVAL}" --dataset folder:${FOLDER} --channels 3 --classifier "${WORK_DIR}/classifier.vgck" --floor
    --k 2 --threads 1)
expect_exit(eval_text 0)
expect_in(eval_text out "${FOLDER} (test split)")

# ---- bad folders: exit 1, one line naming the file and the fix, nothing left behind ---------
function(expect_refused prefix folder)
  run(${prefix} "${TRAIN}" --dataset folder:${folder} --max-steps 1 --batch-size 2 --threads 1
      --out "${WORK_DIR}/never")
  expect_error(${prefix} 1 ${ARGN})
  expect_one_line_on_stderr(${prefix})
  if(EXISTS "${WORK_DIR}/never")
    fail(${prefix} "a refused run left ${WORK_DIR}/never behind")
  endif()
endfunction()

set(BAD "${WORK_DIR}/bad")
file(MAKE_DIRECTORY "${BAD}")
expect_refused(empty "${BAD}" "has no PNG, JPEG or BMP images")
expect_refused(missing "${WORK_DIR}/no-such-folder" "does not exist")

file(COPY "${FOLDER}/0/0.png" "${FOLDER}/0/10.png" DESTINATION "${BAD}/a")
file(COPY "${FOLDER}/1/1.png" DESTINATION "${BAD}/b")
file(WRITE "${BAD}/b/notes.png" "this is text, not a PNG\n")
expect_refused(not_image "${BAD}" "${BAD}/b/notes.png" "not a PNG, JPEG or BMP file")
file(REMOVE "${BAD}/b/notes.png")
copy_prefix("${FOLDER}/1/1.png" "${BAD}/b/cut.png" 60)
expect_refused(truncated "${BAD}" "${BAD}/b/cut.png")
file(REMOVE "${BAD}/b/cut.png")

# Mixed sizes: a 32x32 image among 28x28 ones.
run(idx32 "${MAKE_DATA}" "${WORK_DIR}/idx32" 4 1 5 --side 32)
expect_exit(idx32 0)
run(folder32 "${MAKE_FOLDER}" "${WORK_DIR}/idx32" "${WORK_DIR}/f32" --count 1 --flat)
expect_exit(folder32 0)
file(COPY "${WORK_DIR}/f32/0.png" DESTINATION "${BAD}/b")
expect_refused(mixed "${BAD}" "${BAD}/b/0.png is 32x32" "--image-size")
file(REMOVE "${BAD}/b/0.png")

# A class folder without images, and a flat folder where the classifier needs classes.
file(MAKE_DIRECTORY "${BAD}/c")
expect_refused(empty_class "${BAD}" "${BAD}/c" "has no PNG, JPEG or BMP images")
file(REMOVE_RECURSE "${BAD}/c")
run(flat "${MAKE_FOLDER}" "${IDX}" "${WORK_DIR}/flat" --count 40 --flat)
expect_exit(flat 0)
run(flat_classifier "${TRAIN_CLASSIFIER}" --dataset folder:${WORK_DIR}/flat --task labels --epochs 1 --threads 1
    --classifier "${WORK_DIR}/never/c.vgck")
expect_error(flat_classifier 1 "class folders but labels need at least two")
if(EXISTS "${WORK_DIR}/never")
  fail(flat_classifier "a refused run left ${WORK_DIR}/never behind")
endif()
# Without classes the classifier learns the rotation task by default, and vaegan eval
# scores FID and precision/recall in its features but reports no class coverage.
run(flat_rotation "${TRAIN_CLASSIFIER}" --dataset folder:${WORK_DIR}/flat --epochs 1 --batch-size 8 --threads 1
    --classifier "${WORK_DIR}/rotation.vgck")
expect_exit(flat_rotation 0)
expect_in(flat_rotation out "the data set has fewer than two classes; training the rotation task")
run(flat_eval "${EVAL}" --dataset folder:${WORK_DIR}/flat --classifier "${WORK_DIR}/rotation.vgck" --k 2
    --threads 1 --generated "${IDX}/t10k-images-idx3-ubyte")
expect_exit(flat_eval 0)
expect_in(flat_eval out "FID ")
expect_in(flat_eval out "classes covered: not measured (a rotation classifier")
run(flat_eval_json "${EVAL}" --dataset folder:${WORK_DIR}/flat --classifier "${WORK_DIR}/rotation.vgck" --k 2
    --threads 1 --generated "${IDX}/t10k-images-idx3-ubyte" --format json)
expect_exit(flat_eval_json 0)
if(NOT flat_eval_json_out MATCHES "\"fid\": [0-9]" OR NOT flat_eval_json_out MATCHES "\"classes_covered\": null")
  fail(flat_eval_json "expected a number for fid and null for classes_covered: ${flat_eval_json_out}")
endif()

# A symlink loop (POSIX hosts).
if(UNIX)
  file(CREATE_LINK "${BAD}" "${BAD}/a/loop" SYMBOLIC)
  expect_refused(loop "${BAD}" "symlink loop" "${BAD}/a/loop")
  file(REMOVE "${BAD}/a/loop")
endif()

# ---- usage errors: exit 2 ---------------------------------------------------------------------
run(channels "${TRAIN}" --dataset folder:${FOLDER} --channels 2 --out "${WORK_DIR}/never")
expect_error(channels 2 "--channels must be 1 (grey) or 3 (RGB), got 2")
run(idx_flag "${TRAIN}" --dataset mnist --image-size 32 --out "${WORK_DIR}/never")
expect_error(idx_flag 2 "--image-size is for image folders")
run(no_path "${TRAIN}" --dataset folder: --out "${WORK_DIR}/never")
expect_error(no_path 2 "--dataset folder:PATH needs the folder's path")
run(fraction "${TRAIN}" --dataset folder:${FOLDER} --test-fraction 1 --out "${WORK_DIR}/never")
expect_error(fraction 2 "--test-fraction must be in [0, 1)")
run(arch "${TRAIN_CLASSIFIER}" --dataset folder:${FOLDER} --arch resnet --classifier "${WORK_DIR}/never/c.vgck")
expect_error(arch 2 "--arch must be conv or mlp, got 'resnet'")
run(task "${TRAIN_CLASSIFIER}" --dataset folder:${FOLDER} --task colour --classifier "${WORK_DIR}/never/c.vgck")
expect_error(task 2 "--task must be auto, labels or rotation, got 'colour'")
if(EXISTS "${WORK_DIR}/never")
  fail(usage "a usage error left ${WORK_DIR}/never behind")
endif()
