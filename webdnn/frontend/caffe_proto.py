"""Caffe's NetParameter schema, built at import time with the protobuf package's descriptor_pb2 (no
Caffe, no protoc, no hand-written decoder): the messages and field numbers of the public caffe.proto
that a network definition or a .caffemodel uses (layers, blobs and every layer parameter message,
the deprecated V1 `layers` form included), plus the SSD fork's PermuteParameter and
NormalizeParameter (fields 202 and 206). Solver messages are left out.

SCHEMA is one line per field: ``name number type`` with ``*`` after the type for repeated, ``+`` for
repeated and packed (as Caffe declares its blob data), ``=value`` for a proto2 default; ``enum Name A=0 B=1`` declares an enum of the message.
"""
from __future__ import annotations

import functools

SCHEMA = """
message BlobShape
  dim 1 int64+
message BlobProto
  shape 7 BlobShape
  data 5 float+
  diff 6 float+
  double_data 8 double+
  double_diff 9 double+
  num 1 int32=0
  channels 2 int32=0
  height 3 int32=0
  width 4 int32=0
message BlobProtoVector
  blobs 1 BlobProto*
message FillerParameter
  enum VarianceNorm FAN_IN=0 FAN_OUT=1 AVERAGE=2
  type 1 string=constant
  value 2 float=0
  min 3 float=0
  max 4 float=1
  mean 5 float=0
  std 6 float=1
  sparse 7 int32=-1
  variance_norm 8 VarianceNorm=FAN_IN
message NetState
  phase 1 Phase=TEST
  level 2 int32=0
  stage 3 string*
message NetStateRule
  phase 1 Phase
  min_level 2 int32
  max_level 3 int32
  stage 4 string*
  not_stage 5 string*
message ParamSpec
  enum DimCheckMode STRICT=0 PERMISSIVE=1
  name 1 string
  share_mode 2 DimCheckMode
  lr_mult 3 float=1
  decay_mult 4 float=1
message NetParameter
  name 1 string
  input 3 string*
  input_shape 8 BlobShape*
  input_dim 4 int32*
  force_backward 5 bool=false
  state 6 NetState
  debug_info 7 bool=false
  layer 100 LayerParameter*
  layers 2 V1LayerParameter*
message LayerParameter
  name 1 string
  type 2 string
  bottom 3 string*
  top 4 string*
  phase 10 Phase
  loss_weight 5 float*
  param 6 ParamSpec*
  blobs 7 BlobProto*
  propagate_down 11 bool*
  include 8 NetStateRule*
  exclude 9 NetStateRule*
  transform_param 100 TransformationParameter
  loss_param 101 LossParameter
  accuracy_param 102 AccuracyParameter
  argmax_param 103 ArgMaxParameter
  batch_norm_param 139 BatchNormParameter
  bias_param 141 BiasParameter
  clip_param 148 ClipParameter
  concat_param 104 ConcatParameter
  contrastive_loss_param 105 ContrastiveLossParameter
  convolution_param 106 ConvolutionParameter
  crop_param 144 CropParameter
  data_param 107 DataParameter
  dropout_param 108 DropoutParameter
  dummy_data_param 109 DummyDataParameter
  eltwise_param 110 EltwiseParameter
  elu_param 140 ELUParameter
  embed_param 137 EmbedParameter
  exp_param 111 ExpParameter
  flatten_param 135 FlattenParameter
  hdf5_data_param 112 HDF5DataParameter
  hdf5_output_param 113 HDF5OutputParameter
  hinge_loss_param 114 HingeLossParameter
  image_data_param 115 ImageDataParameter
  infogain_loss_param 116 InfogainLossParameter
  inner_product_param 117 InnerProductParameter
  input_param 143 InputParameter
  log_param 134 LogParameter
  lrn_param 118 LRNParameter
  memory_data_param 119 MemoryDataParameter
  mvn_param 120 MVNParameter
  parameter_param 145 ParameterParameter
  pooling_param 121 PoolingParameter
  power_param 122 PowerParameter
  prelu_param 131 PReLUParameter
  python_param 130 PythonParameter
  recurrent_param 146 RecurrentParameter
  reduction_param 136 ReductionParameter
  relu_param 123 ReLUParameter
  reshape_param 133 ReshapeParameter
  scale_param 142 ScaleParameter
  sigmoid_param 124 SigmoidParameter
  softmax_param 125 SoftmaxParameter
  spp_param 132 SPPParameter
  slice_param 126 SliceParameter
  swish_param 147 SwishParameter
  tanh_param 127 TanHParameter
  threshold_param 128 ThresholdParameter
  tile_param 138 TileParameter
  window_data_param 129 WindowDataParameter
  permute_param 202 PermuteParameter
  norm_param 206 NormalizeParameter
message TransformationParameter
  scale 1 float=1
  mirror 2 bool=false
  crop_size 3 uint32=0
  mean_file 4 string
  mean_value 5 float*
  force_color 6 bool=false
  force_gray 7 bool=false
message LossParameter
  enum NormalizationMode FULL=0 VALID=1 BATCH_SIZE=2 NONE=3
  ignore_label 1 int32
  normalization 3 NormalizationMode=VALID
  normalize 2 bool
message AccuracyParameter
  top_k 1 uint32=1
  axis 2 int32=1
  ignore_label 3 int32
message ArgMaxParameter
  out_max_val 1 bool=false
  top_k 2 uint32=1
  axis 3 int32
message ClipParameter
  min 1 float
  max 2 float
message ConcatParameter
  axis 2 int32=1
  concat_dim 1 uint32=1
message BatchNormParameter
  use_global_stats 1 bool
  moving_average_fraction 2 float=0.999
  eps 3 float=1e-5
message BiasParameter
  axis 1 int32=1
  num_axes 2 int32=1
  filler 3 FillerParameter
message ContrastiveLossParameter
  margin 1 float=1
  legacy_version 2 bool=false
message ConvolutionParameter
  enum Engine DEFAULT=0 CAFFE=1 CUDNN=2
  num_output 1 uint32
  bias_term 2 bool=true
  pad 3 uint32*
  kernel_size 4 uint32*
  stride 6 uint32*
  dilation 18 uint32*
  pad_h 9 uint32=0
  pad_w 10 uint32=0
  kernel_h 11 uint32
  kernel_w 12 uint32
  stride_h 13 uint32
  stride_w 14 uint32
  group 5 uint32=1
  weight_filler 7 FillerParameter
  bias_filler 8 FillerParameter
  engine 15 Engine=DEFAULT
  axis 16 int32=1
  force_nd_im2col 17 bool=false
message CropParameter
  axis 1 int32=2
  offset 2 uint32*
message DataParameter
  enum DB LEVELDB=0 LMDB=1
  source 1 string
  batch_size 4 uint32
  rand_skip 7 uint32=0
  backend 8 DB=LEVELDB
  scale 2 float=1
  mean_file 3 string
  crop_size 5 uint32=0
  mirror 6 bool=false
  force_encoded_color 9 bool=false
  prefetch 10 uint32=4
message DropoutParameter
  dropout_ratio 1 float=0.5
message DummyDataParameter
  data_filler 1 FillerParameter*
  shape 6 BlobShape*
  num 2 uint32*
  channels 3 uint32*
  height 4 uint32*
  width 5 uint32*
message EltwiseParameter
  enum EltwiseOp PROD=0 SUM=1 MAX=2
  operation 1 EltwiseOp=SUM
  coeff 2 float*
  stable_prod_grad 3 bool=true
message ELUParameter
  alpha 1 float=1
message EmbedParameter
  num_output 1 uint32
  input_dim 2 uint32
  bias_term 3 bool=true
  weight_filler 4 FillerParameter
  bias_filler 5 FillerParameter
message ExpParameter
  base 1 float=-1
  scale 2 float=1
  shift 3 float=0
message FlattenParameter
  axis 1 int32=1
  end_axis 2 int32=-1
message HDF5DataParameter
  source 1 string
  batch_size 2 uint32
  shuffle 3 bool=false
message HDF5OutputParameter
  file_name 1 string
message HingeLossParameter
  enum Norm L1=1 L2=2
  norm 1 Norm=L1
message ImageDataParameter
  source 1 string
  batch_size 4 uint32=1
  rand_skip 7 uint32=0
  shuffle 8 bool=false
  new_height 9 uint32=0
  new_width 10 uint32=0
  is_color 11 bool=true
  scale 2 float=1
  mean_file 3 string
  crop_size 5 uint32=0
  mirror 6 bool=false
  root_folder 12 string=
message InfogainLossParameter
  source 1 string
  axis 2 int32=1
message InnerProductParameter
  num_output 1 uint32
  bias_term 2 bool=true
  weight_filler 3 FillerParameter
  bias_filler 4 FillerParameter
  axis 5 int32=1
  transpose 6 bool=false
message InputParameter
  shape 1 BlobShape*
message LogParameter
  base 1 float=-1
  scale 2 float=1
  shift 3 float=0
message LRNParameter
  enum NormRegion ACROSS_CHANNELS=0 WITHIN_CHANNEL=1
  enum Engine DEFAULT=0 CAFFE=1 CUDNN=2
  local_size 1 uint32=5
  alpha 2 float=1
  beta 3 float=0.75
  norm_region 4 NormRegion=ACROSS_CHANNELS
  k 5 float=1
  engine 6 Engine=DEFAULT
message MemoryDataParameter
  batch_size 1 uint32
  channels 2 uint32
  height 3 uint32
  width 4 uint32
message MVNParameter
  normalize_variance 1 bool=true
  across_channels 2 bool=false
  eps 3 float=1e-9
message ParameterParameter
  shape 1 BlobShape
message PoolingParameter
  enum PoolMethod MAX=0 AVE=1 STOCHASTIC=2
  enum Engine DEFAULT=0 CAFFE=1 CUDNN=2
  enum RoundMode CEIL=0 FLOOR=1
  pool 1 PoolMethod=MAX
  pad 4 uint32=0
  pad_h 9 uint32=0
  pad_w 10 uint32=0
  kernel_size 2 uint32
  kernel_h 5 uint32
  kernel_w 6 uint32
  stride 3 uint32=1
  stride_h 7 uint32
  stride_w 8 uint32
  engine 11 Engine=DEFAULT
  global_pooling 12 bool=false
  round_mode 13 RoundMode=CEIL
message PowerParameter
  power 1 float=1
  scale 2 float=1
  shift 3 float=0
message PythonParameter
  module 1 string
  layer 2 string
  param_str 3 string=
  share_in_parallel 4 bool=false
message RecurrentParameter
  num_output 1 uint32=0
  weight_filler 2 FillerParameter
  bias_filler 3 FillerParameter
  debug_info 4 bool=false
  expose_hidden 5 bool=false
message ReductionParameter
  enum ReductionOp SUM=1 ASUM=2 SUMSQ=3 MEAN=4
  operation 1 ReductionOp=SUM
  axis 2 int32=0
  coeff 3 float=1
message ReLUParameter
  enum Engine DEFAULT=0 CAFFE=1 CUDNN=2
  negative_slope 1 float=0
  engine 2 Engine=DEFAULT
message ReshapeParameter
  shape 1 BlobShape
  axis 2 int32=0
  num_axes 3 int32=-1
message ScaleParameter
  axis 1 int32=1
  num_axes 2 int32=1
  filler 3 FillerParameter
  bias_term 4 bool=false
  bias_filler 5 FillerParameter
message SigmoidParameter
  enum Engine DEFAULT=0 CAFFE=1 CUDNN=2
  engine 1 Engine=DEFAULT
message SliceParameter
  axis 3 int32=1
  slice_point 2 uint32*
  slice_dim 1 uint32=1
message SoftmaxParameter
  enum Engine DEFAULT=0 CAFFE=1 CUDNN=2
  engine 1 Engine=DEFAULT
  axis 2 int32=1
message SwishParameter
  beta 1 float=1
message TanHParameter
  enum Engine DEFAULT=0 CAFFE=1 CUDNN=2
  engine 1 Engine=DEFAULT
message TileParameter
  axis 1 int32=1
  tiles 2 int32
message ThresholdParameter
  threshold 1 float=0
message WindowDataParameter
  source 1 string
  scale 2 float=1
  mean_file 3 string
  batch_size 4 uint32
  crop_size 5 uint32=0
  mirror 6 bool=false
  fg_threshold 7 float=0.5
  bg_threshold 8 float=0.5
  fg_fraction 9 float=0.25
  context_pad 10 uint32=0
  crop_mode 11 string=warp
  cache_images 12 bool=false
  root_folder 13 string=
message SPPParameter
  enum PoolMethod MAX=0 AVE=1 STOCHASTIC=2
  enum Engine DEFAULT=0 CAFFE=1 CUDNN=2
  pyramid_height 1 uint32
  pool 2 PoolMethod=MAX
  engine 6 Engine=DEFAULT
message PReLUParameter
  filler 1 FillerParameter
  channel_shared 2 bool=false
message PermuteParameter
  order 1 uint32*
message NormalizeParameter
  across_spatial 1 bool=true
  scale_filler 2 FillerParameter
  channel_shared 3 bool=true
  eps 4 float=1e-10
message V1LayerParameter
  enum LayerType NONE=0 ABSVAL=35 ACCURACY=1 ARGMAX=30 BNLL=2 CONCAT=3 CONTRASTIVE_LOSS=37 CONVOLUTION=4 DATA=5 DECONVOLUTION=39 DROPOUT=6 DUMMY_DATA=32 EUCLIDEAN_LOSS=7 ELTWISE=25 EXP=38 FLATTEN=8 HDF5_DATA=9 HDF5_OUTPUT=10 HINGE_LOSS=28 IM2COL=11 IMAGE_DATA=12 INFOGAIN_LOSS=13 INNER_PRODUCT=14 LRN=15 MEMORY_DATA=29 MULTINOMIAL_LOGISTIC_LOSS=16 MVN=34 POOLING=17 POWER=26 RELU=18 SIGMOID=19 SIGMOID_CROSS_ENTROPY_LOSS=27 SILENCE=36 SOFTMAX=20 SOFTMAX_LOSS=21 SPLIT=22 SLICE=33 TANH=23 WINDOW_DATA=24 THRESHOLD=31
  enum DimCheckMode STRICT=0 PERMISSIVE=1
  bottom 2 string*
  top 3 string*
  name 4 string
  include 32 NetStateRule*
  exclude 33 NetStateRule*
  type 5 LayerType
  blobs 6 BlobProto*
  param 1001 string*
  blob_share_mode 1002 DimCheckMode*
  blobs_lr 7 float*
  weight_decay 8 float*
  loss_weight 35 float*
  accuracy_param 27 AccuracyParameter
  argmax_param 23 ArgMaxParameter
  concat_param 9 ConcatParameter
  contrastive_loss_param 40 ContrastiveLossParameter
  convolution_param 10 ConvolutionParameter
  data_param 11 DataParameter
  dropout_param 12 DropoutParameter
  dummy_data_param 26 DummyDataParameter
  eltwise_param 24 EltwiseParameter
  exp_param 41 ExpParameter
  hdf5_data_param 13 HDF5DataParameter
  hdf5_output_param 14 HDF5OutputParameter
  hinge_loss_param 29 HingeLossParameter
  image_data_param 15 ImageDataParameter
  infogain_loss_param 16 InfogainLossParameter
  inner_product_param 17 InnerProductParameter
  lrn_param 18 LRNParameter
  memory_data_param 22 MemoryDataParameter
  mvn_param 34 MVNParameter
  pooling_param 19 PoolingParameter
  power_param 21 PowerParameter
  relu_param 30 ReLUParameter
  sigmoid_param 38 SigmoidParameter
  softmax_param 39 SoftmaxParameter
  slice_param 31 SliceParameter
  tanh_param 37 TanHParameter
  threshold_param 25 ThresholdParameter
  window_data_param 20 WindowDataParameter
  transform_param 36 TransformationParameter
  loss_param 42 LossParameter
  layer 1 V0LayerParameter
message V0LayerParameter
  name 1 string
  type 2 string
"""
# the V0 form (before 2014) is recognised, not converted: its fields beyond name and type are unknown here

FILE_ENUMS = {"Phase": {"TRAIN": 0, "TEST": 1}}
SCALARS = {"float", "double", "int32", "int64", "uint32", "uint64", "bool", "string", "bytes"}


def _parse_schema(text: str):
    messages, current = {}, None
    for line in text.strip().splitlines():
        words = line.split()
        if words[0] == "message":
            current = messages.setdefault(words[1], {"fields": [], "enums": {}})
        elif words[0] == "enum":
            current["enums"][words[1]] = {k: int(v) for k, v in (w.split("=") for w in words[2:])}
        else:
            name, number, spec = words
            type_name, _, default = spec.partition("=")
            packed = type_name.endswith("+")
            repeated = packed or type_name.endswith("*")
            current["fields"].append((name, int(number), type_name.rstrip("*+"), repeated, packed,
                                      default if "=" in spec else None))
    return messages


@functools.lru_cache(maxsize=1)
def classes() -> dict:
    """{message name: generated class} of the schema (built once)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    F = descriptor_pb2.FieldDescriptorProto
    kinds = {"float": F.TYPE_FLOAT, "double": F.TYPE_DOUBLE, "int32": F.TYPE_INT32, "int64": F.TYPE_INT64,
             "uint32": F.TYPE_UINT32, "uint64": F.TYPE_UINT64, "bool": F.TYPE_BOOL, "string": F.TYPE_STRING,
             "bytes": F.TYPE_BYTES}
    messages = _parse_schema(SCHEMA)
    fd = descriptor_pb2.FileDescriptorProto(name="webdnn_caffe.proto", package="caffe", syntax="proto2")
    for name, values in FILE_ENUMS.items():
        e = fd.enum_type.add(name=name)
        for k, v in values.items():
            e.value.add(name=k, number=v)
    for mname, m in messages.items():
        d = fd.message_type.add(name=mname)
        for ename, values in m["enums"].items():
            e = d.enum_type.add(name=ename)
            for k, v in values.items():
                e.value.add(name=k, number=v)
        for fname, number, tname, repeated, packed, default in m["fields"]:
            f = d.field.add(name=fname, number=number,
                            label=F.LABEL_REPEATED if repeated else F.LABEL_OPTIONAL)
            if tname in SCALARS:
                f.type = kinds[tname]
                if packed:
                    f.options.packed = True
            elif tname in m["enums"]:
                f.type, f.type_name = F.TYPE_ENUM, f".caffe.{mname}.{tname}"
            elif tname in FILE_ENUMS:
                f.type, f.type_name = F.TYPE_ENUM, f".caffe.{tname}"
            else:
                assert tname in messages, f"{mname}.{fname}: unknown type {tname}"
                f.type, f.type_name = F.TYPE_MESSAGE, f".caffe.{tname}"
            if default is not None:
                f.default_value = default
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"caffe.{name}")) for name in messages}
