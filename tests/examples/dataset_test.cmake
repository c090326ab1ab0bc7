# --dataset fashion-mnist end to end on Debian's dataset-fashion-mnist files (installed by
# scripts/install-deps.sh): a conv-preset VAE-GAN trains two steps on all 60,000 images,
# train_classifier trains one epoch (the mlp: the conv one costs 30 s more here and the folder
# and eval-tool tests run it), compare runs a two-second smoke study of the conv
# GAN and VAE-GAN scored with that classifier (the tool the efficiency study runs), and a
# one-second one scored on a validation split of the training images, and
# vaegan eval finds the test images by itself; an unknown --dataset is a usage error.
# Variables (all required): VAEGAN, TRAIN_CLASSIFIER, COMPARE (the programs), WORK_DIR.
cmake_minimum_required(VERSION 3.16)

foreach(_var VAEGAN WORK_DIR)
  if(NOT DEFINED ${_var} OR "${${_var}}" STREQUAL "")
    message(FATAL_ERROR "dataset_test.cmake: -D${_var}=... is required")
  endif()
endforeach()
set(TRAIN_CLASSIFIER "${VAEGAN};classifier")
set(COMPARE "${VAEGAN};compare")
set(TRAIN "${VAEGAN};train")
set(EVAL "${VAEGAN};eval")
include("${CMAKE_CURRENT_LIST_DIR}/test_helpers.cmake")

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

run(train "${TRAIN}" --dataset fashion-mnist --preset conv --max-steps 2 --batch-size 8 --threads 2
    --samples 4 --out "${WORK_DIR}/vaegan")
expect_exit(train 0)
expect_in(train out "loading Fashion-MNIST from '/usr/share/datasets/fashion-mnist'")
expect_in(train out "60000 training images, preset conv")
if(NOT EXISTS "${WORK_DIR}/vaegan/samples.png" OR NOT EXISTS "${WORK_DIR}/vaegan/checkpoint.vgck")
  fail(train "expected samples.png and checkpoint.vgck in ${WORK_DIR}/vaegan")
endif()

run(classifier "${TRAIN_CLASSIFIER}" --dataset fashion-mnist --arch mlp --epochs 1 --batch-size 256 --threads 2
    --classifier "${WORK_DIR}/classifier.vgck")
expect_exit(classifier 0)
expect_in(classifier out "60000 train / 10000 test images")

# --classifier: sample quality after each epoch, in metrics.csv and the report.
run(scored "${TRAIN}" --dataset fashion-mnist --max-steps 3 --batch-size 8 --threads 2
    --classifier "${WORK_DIR}/classifier.vgck" --out "${WORK_DIR}/scored")
expect_exit(scored 0)
file(READ "${WORK_DIR}/scored/report.html" _report)
if(NOT EXISTS "${WORK_DIR}/scored/metrics.csv" OR NOT _report MATCHES "src=\"metrics.svg\"")
  fail(scored "expected metrics.csv and the FID plot in the report of ${WORK_DIR}/scored")
endif()
run(bad_classifier "${TRAIN}" --dataset fashion-mnist --max-steps 1 --classifier "${WORK_DIR}/none.vgck"
    --out "${WORK_DIR}/bad_classifier")
expect_error(bad_classifier 1 "--classifier '${WORK_DIR}/none.vgck'")

run(compare "${COMPARE}" --dataset fashion-mnist --classifier "${WORK_DIR}/classifier.vgck" --preset conv
    --methods gan,vaegan --seeds 1 --budget 2 --eval-every 1 --eval-samples 50 --batch-size 16 --threads 1
    --out "${WORK_DIR}/compare")
expect_exit(compare 0)
file(READ "${WORK_DIR}/compare/summary.md" _summary)
string(FIND "${_summary}" "Study: Fashion-MNIST, preset `conv`" _at)
if(_at EQUAL -1)
  fail(compare "summary.md does not name the data set and preset:\n${_summary}")
endif()
foreach(_method gan vaegan)
  if(NOT EXISTS "${WORK_DIR}/compare/${_method}.csv")
    fail(compare "no ${_method}.csv")
  endif()
endforeach()

# Tuning runs score against a validation split held out of the training images.
run(compare_validation "${COMPARE}" --dataset fashion-mnist --classifier "${WORK_DIR}/classifier.vgck" --preset conv
    --methods gan --seeds 1 --budget 1 --eval-every 1 --eval-samples 50 --batch-size 16 --threads 1
    --score-on validation --out "${WORK_DIR}/compare-validation")
expect_exit(compare_validation 0)
file(READ "${WORK_DIR}/compare-validation/summary.md" _summary)
string(FIND "${_summary}" "Scored against a validation split of 6000 training images (54000 left to train on" _at)
if(_at EQUAL -1)
  fail(compare_validation "summary.md does not name the validation split:\n${_summary}")
endif()
run(score_on "${COMPARE}" --dataset fashion-mnist --score-on train --out "${WORK_DIR}/never")
expect_error(score_on 2 "--score-on must be test or validation, got 'train'")

run(eval "${EVAL}" --dataset fashion-mnist --classifier "${WORK_DIR}/classifier.vgck" --floor --threads 2)
expect_exit(eval 0)
expect_in(eval out "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte")

run(unknown "${TRAIN}" --dataset fashion --max-steps 1 --out "${WORK_DIR}/unknown")
expect_error(unknown 2 "--dataset 'fashion' is not known; choose mnist, fashion-mnist or folder:PATH")
if(EXISTS "${WORK_DIR}/unknown")
  fail(unknown "a usage error left ${WORK_DIR}/unknown behind")
endif()

run(missing "${TRAIN}" --dataset fashion-mnist --data "${WORK_DIR}/no-such-dir" --max-steps 1
    --out "${WORK_DIR}/missing")
expect_error(missing 1 "does not exist (looking for Fashion-MNIST)" "dataset-fashion-mnist")
