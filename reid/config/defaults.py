"""The one place where every configuration key of the ReID system is defined.

YAML files (``configs/*.yaml``) and command-line ``KEY VALUE`` pairs may only change keys that
exist here; an unknown key is an error that names the key and the closest valid ones.
Paper values (thesis chapter 6, GCL) are the defaults unless a comment says otherwise.
"""
from yacs.config import CfgNode as CN

_C = CN()

# Everything a run writes goes below OUTPUT_DIR (logs, checkpoints, the resolved config, exports).
_C.OUTPUT_DIR = "outputs/market"
# Where downloaded-by-hand weights and built body-model caches live ("" = ~/.cache/gcl_reid,
# or $GCL_REID_CACHE when set).
_C.CACHE_DIR = ""
_C.SEED = 1
# Make cuDNN deterministic (slower); CPU runs are deterministic for a fixed seed anyway.
_C.DETERMINISTIC = False

# ---------------------------------------------------------------------------------------------
# Identity encoder E_id and the GCL generative networks
# ---------------------------------------------------------------------------------------------
_C.MODEL = CN()
# "auto" = cuda when available, else cpu; or "cpu", "cuda", "cuda:1".
_C.MODEL.DEVICE = "auto"
# Any timm CNN name that exposes a final feature map (resnet50, resnet101, resnet50_ibn, ...).
_C.MODEL.BACKBONE = "resnet50"
# Local file with ImageNet weights for the backbone ("" = random init unless FROM_TIMM).
_C.MODEL.PRETRAINED_PATH = ""
# Ask timm to download ImageNet weights (needs network; never done implicitly).
_C.MODEL.PRETRAINED_FROM_TIMM = False
_C.MODEL.LAST_STRIDE = 1
# Horizontal stripes of the part-pooled appearance code (2048 x NUM_PARTS).
_C.MODEL.NUM_PARTS = 4
_C.MODEL.EMBED_DIM = 512
# Full identity-encoder checkpoint to start from (a warm-up model, or the model to evaluate).
_C.MODEL.WEIGHTS = ""
# Weights that leave tensors of the model unloaded (missing or shape-mismatched keys: another
# architecture, a fast-reid / torchreid model without this embedding head) are an error listing
# them in training (MODEL.WEIGHTS, MODEL.PRETRAINED_PATH), tools/test.py and tools/export.py.
# True loads what fits, keeps the rest at its initial values and logs the list as a warning.
# Unexpected keys (an ImageNet classifier, another code base's heads) are ignored either way.
_C.MODEL.PARTIAL_LOAD = False
# E_str + G + D weights after a gan_warmup stage (written as OUTPUT_DIR/generative_warmup.pth),
# to run only the joint stage from a shared warm-up.
_C.MODEL.GENERATIVE_WEIGHTS = ""
# Structure encoder / decoder widths (DESIGN: structure features 128 x 64 x 32).
_C.MODEL.STRUCTURE_DIM = 128
_C.MODEL.GEN_RES_BLOCKS = 4
_C.MODEL.DISC_SCALES = 3
_C.MODEL.DISC_BASE_CHANNELS = 32
# Dilations of E_str's ASPP (the paper: 3, 6, 9 on 64 x 32 structure features). Each must stay
# below the structure features' width (INPUT.SIZE / 4): reflection padding needs it.
_C.MODEL.ASPP_DILATIONS = (3, 6, 9)
# What the AdaIN MLP of residual block k of G reads from the (B, 2048, P) appearance code:
# "stripe" = part stripe k alone (B, 2048); "flat_slice" = the authors' code: the code flattened
# channel-major (index c * P + p) and cut into P equal slices, slice k = channels
# 2048 k / P .. 2048 (k + 1) / P - 1 of every stripe. Same weight shapes, other meaning: a
# generative checkpoint belongs to the layout it was trained with.
_C.MODEL.ADAIN_INPUT = "stripe"

# ---------------------------------------------------------------------------------------------
# Input pipeline
# ---------------------------------------------------------------------------------------------
_C.INPUT = CN()
# (height, width); tensors are in [-1, 1] everywhere.
_C.INPUT.SIZE = (256, 128)
_C.INPUT.FLIP_PROB = 0.5
_C.INPUT.PADDING = 10
_C.INPUT.RE_PROB = 0.5
# Extra colour jitter for the "classic augmentation" ablation.
_C.INPUT.COLOR_JITTER = False
# Flip (FLIP_PROB) and pad + crop (PADDING) of the image and its structure maps in the loaders of
# the generative stages (gan_warmup, joint with the GAN). False = resize only, as the thesis and
# the authors' code (traditional augmentation is the ablation's "TDA" row).
_C.INPUT.GENERATIVE_AUGMENT = True

# ---------------------------------------------------------------------------------------------
# Datasets
# ---------------------------------------------------------------------------------------------
_C.DATASETS = CN()
# market1501 | dukemtmc | msmt17 | generic | synthetic | folder (unlabelled images, any names)
# A Market-style folder without query/ and bounding_box_test/ (or MSMT17 without its test
# folder and lists) is train-only: training runs and evaluation is skipped.
_C.DATASETS.NAME = "market1501"
# The folder that holds the datasets; each reader finds its own sub-folder below it (folder:
# the image folder itself, read recursively).
_C.DATASETS.ROOT = "datasets"
# Camera ids of the folder dataset: "folder" = one camera per immediate sub-folder of ROOT,
# "single" = one camera for all (the other datasets take cameras from their file names).
_C.DATASETS.CAMERAS = "folder"
# Labelled source dataset for the UDA setting ("" = fully unsupervised).
_C.DATASETS.SOURCE = ""
_C.DATASETS.SOURCE_ROOT = ""
# MSMT17: merge the validation list into train (as every published MSMT17 result does).
_C.DATASETS.MSMT_MERGE_VAL = True
# Training images that cannot be decoded: skip and count (True) or fail (False).
_C.DATASETS.SKIP_UNREADABLE = True
# Extra unlabelled training folders (e.g. generated views written by tools/generate_views.py:
# <dir>/bounding_box_train/{pid:04d}_c{cam}s1_*.jpg), appended to the training set.
_C.DATASETS.EXTRA_TRAIN_DIRS = ()
# Synthetic default dataset: created on first use when absent.
_C.DATASETS.SYNTHETIC = CN()
# Identities in all; without TRAIN_IDS / TEST_IDS half of them train and half test.
_C.DATASETS.SYNTHETIC.IDS = 100
# Separate counts (both > 0; they replace IDS): test identities are only embedded, never trained
# on, so a test split large enough to rank variants costs little.
_C.DATASETS.SYNTHETIC.TRAIN_IDS = 0
_C.DATASETS.SYNTHETIC.TEST_IDS = 0
# Evaluation-only renders of every training person at each MESH.ANGLES rotation with full
# appearance (DIR/ground_truth_views; read by the view-fidelity metrics, never by training).
_C.DATASETS.SYNTHETIC.GROUND_TRUTH_VIEWS = True
_C.DATASETS.SYNTHETIC.CAMERAS = 6
_C.DATASETS.SYNTHETIC.IMAGES_PER_ID_PER_CAMERA = 2
# Training images in all (0: IMAGES_PER_ID_PER_CAMERA for the training identities too), spread as
# evenly as possible over the training identities and each one's cameras; >= 2 per training
# identity. Market-1501's size: TRAIN_IDS 751, TRAIN_IMAGES 12936 (17.2 per identity). Test
# identities keep IMAGES_PER_ID_PER_CAMERA.
_C.DATASETS.SYNTHETIC.TRAIN_IMAGES = 0
_C.DATASETS.SYNTHETIC.SEED = 0

_C.DATALOADER = CN()
_C.DATALOADER.NUM_WORKERS = 2
# How the generative stages start their loader workers: "" (the platform's default, fork on
# Linux), "fork", "forkserver" or "spawn". Forked workers start at once but keep a copy of every
# page of the trainer's heap it rewrites afterwards (about 1.6 GB per worker at Market scale and
# growing); forkserver / spawn workers are fresh processes of 0.6-0.9 GB that take 5-12 s to start
# each epoch (README, "Memory").
_C.DATALOADER.START_METHOD = ""
# P x K identity sampler: K instances per (pseudo-)identity.
_C.DATALOADER.NUM_INSTANCES = 4

# ---------------------------------------------------------------------------------------------
# Mesh subsystem: body model, mesh regression, rendering and the structure-map cache
# ---------------------------------------------------------------------------------------------
_C.MESH = CN()
# anny (open, default) | smpl (needs the user's licensed model files in SMPL_DIR)
_C.MESH.BODY_MODEL = "anny"
_C.MESH.SMPL_DIR = ""
_C.MESH.SMPL_GENDER = "neutral"
# HMR-style regressor checkpoint used by tools/prepare_meshes.py.
_C.MESH.HMR_CHECKPOINT = ""
# auto | torch | pytorch3d
_C.MESH.RENDERER = "auto"
# Structure-map cache: <DIR>/{train,test}/render/<file> and render_45/ ... render_315/.
# "" = <dataset folder>/meshes; a relative DIR lies below the located dataset folder (the one
# DATASETS.ROOT leads to), an absolute one is used as given.
_C.MESH.DIR = ""
# The rotations of the body mesh, degrees about the vertical axis, that the generative stages
# draw novel views from; the original view (0) is always there as well.
_C.MESH.ANGLES = (45, 90, 135, 180, 225, 270, 315)
_C.MESH.BATCH_SIZE = 32

# ---------------------------------------------------------------------------------------------
# Pseudo-labels: FAISS kNN -> k-reciprocal Jaccard distance -> DBSCAN
# ---------------------------------------------------------------------------------------------
_C.CLUSTER = CN()
_C.CLUSTER.K1 = 30
_C.CLUSTER.K2 = 6
_C.CLUSTER.MIN_SAMPLES = 4
# Fixed DBSCAN eps; 0 = mean of the smallest RHO fraction of pairwise distances.
_C.CLUSTER.EPS = 0.0
_C.CLUSTER.RHO = 0.002
# When eps comes from RHO (EPS 0): "first" = chosen on the first clustering of the run (the
# untrained encoder's features in a full run, the warm-up encoder's in a joint-only run) and
# kept, also across a resume (it is in the checkpoints); "per_epoch" = chosen afresh at every
# clustering, as the authors' code does in the joint stage.
_C.CLUSTER.EPS_POLICY = "first"
# Use a FAISS GPU index when CUDA and faiss-gpu are present.
_C.CLUSTER.USE_GPU = True
# Cluster (and build the baseline centroids from) features of the images with the background
# greyed out by the silhouette of their angle-0 structure map, in the baseline and joint stages.
# Label-free; stops a weak start from grouping images by camera scenery. Training and evaluation
# still use whole images; the joint stage's instance memory still holds whole-image features.
_C.CLUSTER.FOREGROUND_MASK = False

# ---------------------------------------------------------------------------------------------
# GCL: stages, losses, memory
# ---------------------------------------------------------------------------------------------
_C.GCL = CN()
# Any ordered subset of source (supervised UDA warm-up on DATASETS.SOURCE), baseline,
# gan_warmup, joint.
_C.GCL.STAGES = ("baseline", "gan_warmup", "joint")
# Use the generative module in the joint stage (False = the "L_vi without GAN" ablation).
_C.GCL.USE_GAN = True
# Which view-invariant losses are on in the joint stage (L_vi, L'_vi, L''_vi).
_C.GCL.VI_LOSSES = ("vi", "vi_new", "vi_new_pos")
_C.GCL.LAMBDA_IMG = 5.0
_C.GCL.LAMBDA_FEAT = 5.0
_C.GCL.LAMBDA_ADV = 1.0
# Factor on LSGAN's generator term mean (D(x_fake) - 1)^2 per scale and view (the authors' code: 2).
_C.GCL.LSGAN_GEN_FACTOR = 1.0
# Scale L_img is measured on: "none" = the [-1, 1] image tensors; "imagenet" = both images mapped
# to ImageNet mean / std, as the authors' code (images and G's output in ImageNet statistics),
# where the same pixel error is about 2.2 times larger (1 / (2 std) per channel).
_C.GCL.IMG_LOSS_NORM = "none"
_C.GCL.LAMBDA_VI = 1.0
# R1 penalty on real images, per generated view (the authors' LAMBDA = 0.01: a small penalty).
_C.GCL.GP_WEIGHT = 0.01
# L_feat on the part-pooled appearance codes ("parts", thesis f_id and the authors' code)
# or on the 512-d embeddings ("embedding").
_C.GCL.FEAT_LOSS_ON = "parts"
# What the view-invariant losses contrast against: "instance" (thesis eq. 6.6 - 6.8: one random
# memory entry of the anchor's pseudo-identity, K entries of others) or "centroid" (the same three
# terms against the means of the memory's clusters: the anchor's own cluster is the positive of
# L_vi and L''_vi, the other clusters are the negatives, as cluster-contrast; L'_vi keeps f(x) as
# its positive). MEMORY_MOMENTUM moves the instance entries and the centroids alike.
_C.GCL.MEMORY = "instance"
_C.GCL.MEMORY_MOMENTUM = 0.2
# DBSCAN outliers stay in the memory as negatives of every anchor (thesis / DESIGN). With many
# outliers that are really the anchor's own identity (a weak start), False keeps them out.
_C.GCL.OUTLIER_NEGATIVES = True
# DBSCAN outliers in the joint stage's training loader: "keep" = they are trained with L_gan (and
# their memory rows updated; they are no anchors of the view-invariant losses); "drop" = every
# epoch trains on the clustered images only, as the authors' code (outliers still sit in the
# memory). With fewer than two clusters "drop" keeps every image (L_gan only that epoch).
_C.GCL.JOINT_OUTLIERS = "keep"
# Factor on the gradient that L_gan (reconstruction, feature and adversarial terms) sends into
# E_id in the joint stage: 1 = thesis. 0 lets E_id learn from the view-invariant terms only (G,
# E_str still learn from L_gan), for small encoders trained from scratch, where reconstructing
# whole images pulls E_id towards encoding the background.
_C.GCL.ENCODER_GAN_GRAD = 1.0
# Which feature scores the K memory negatives in L_vi, L'_vi and L''_vi: "generated"
# (E_id(x'_new), thesis) or "original" (E_id(x)). With weak generated views (a short gan_warmup,
# an encoder trained from scratch) "generated" pushes only the generated images' features away
# from other identities, and the real images' features are never repelled.
_C.GCL.NEGATIVE_ANCHOR = "generated"
# Gradient through the real image's feature E_id(x) as the positive of L'_vi (True = thesis).
# False makes it a fixed target: the generated view is pulled towards the real feature, and
# weak generated views cannot drag the real features towards them.
_C.GCL.REAL_POSITIVE_GRAD = True
# E_id's BatchNorm running statistics (used at test time, on real images) from every E_id pass,
# generated images included (True: the straightforward behaviour), or from the real images only
# (False: the generated views are still normalised with their batch statistics in training).
# While the generator is poor, True shifts the test-time statistics towards those of generated
# images (see reid/models/batchnorm.py).
_C.GCL.GENERATED_BN_STATS = False
# True: in the joint stage E_id's BatchNorm layers normalise with their running statistics (those
# of the warm-up) and keep them, while their scales and shifts still learn. False (the paper):
# batch statistics. With small batches of small images the batch statistics of E_id's last
# layers are noisy: on the synthetic set at 64 x 32 and batch 16 the appearance codes G reads
# in training mode differ from the running-statistics ones by 42% of their norm (the spread
# between images is 69%).
_C.GCL.FREEZE_ENCODER_BN = False
_C.GCL.TEMPERATURE = 0.04
_C.GCL.NUM_NEGATIVES = 8192
# Extra positive view from a frozen video generator conditioned on the person crop (ImaGINator):
# each joint step adds L_vid, the view-invariant loss with anchor E_id(one generated frame of x),
# positives E_id(x) and a same-pseudo-identity memory entry, memory negatives.
_C.GCL.VIDEO_VIEW = CN()
# Generator YAML (configs/generators/*.yaml) and its checkpoint ("" = off).
_C.GCL.VIDEO_VIEW.CONFIG = "configs/generators/imaginator_reid_synthetic.yaml"
_C.GCL.VIDEO_VIEW.WEIGHTS = ""
# Weight of L_vid.
_C.GCL.VIDEO_VIEW.WEIGHT = 1.0

# ---------------------------------------------------------------------------------------------
# Optimisation, per stage
# ---------------------------------------------------------------------------------------------
# Each stage reads its own section, SOLVER.SOURCE / BASELINE / GAN_WARMUP / JOINT, and every
# section holds the same keys:
#   EPOCHS           epochs of the stage (0 skips it)
#   ITERS_PER_EPOCH  iterations per epoch (0 = one pass over the training set)
#   BATCH_SIZE       images per batch (source and baseline: P x K identity batches)
#   LR, WEIGHT_DECAY E_id's optimiser: Adam in source and baseline, SGD with Nesterov momentum
#                    in joint; gan_warmup keeps E_id frozen and reads neither
#   LR_STEPS         epochs after which the learning rate is multiplied by LR_DECAY_FACTOR;
#                    () = every LR_STEP_SIZE epochs instead
#   LR_STEP_SIZE     period of that decay when LR_STEPS is (); 0 = half of EPOCHS (at least 1)
#   LR_DECAY_FACTOR  the factor of each decay
# and the sections of the generative stages (GAN_WARMUP, JOINT) also:
#   GAN_LR, GAN_BETAS  Adam of E_str + G and of D
#   GAN_WEIGHT_DECAY   that Adam's (L2) weight decay (the authors' code: 5e-4)
#   DECAY_GAN_LR     G and D follow the same learning-rate decay
# Old flat keys (SOLVER.BATCH_SIZE, SOLVER.ID_LR, ...) are still read for one release and mapped
# to these, with a warning (reid/config/renames.py).
_C.SOLVER = CN()
# The keys of every section, with the value a section has unless it sets another one below.
_STAGE_KEYS = dict(EPOCHS=0, ITERS_PER_EPOCH=0, BATCH_SIZE=16, LR=3.5e-4, WEIGHT_DECAY=5e-4,
                   LR_STEPS=(), LR_STEP_SIZE=0, LR_DECAY_FACTOR=0.1)
_GENERATIVE_KEYS = dict(GAN_LR=1e-4, GAN_BETAS=(0.0, 0.999), GAN_WEIGHT_DECAY=0.0)


def _stage_section(**keys) -> CN:
    """A ``SOLVER.<STAGE>`` section: the keys every stage has, then the stage's ``keys``."""
    node = CN()
    for key, value in dict(_STAGE_KEYS, **keys).items():
        node[key] = value
    return node


# Supervised source warm-up for UDA (cross-entropy + triplet with TRIPLET_MARGIN).
_C.SOLVER.SOURCE = _stage_section(EPOCHS=80, ITERS_PER_EPOCH=200, BATCH_SIZE=64,
                                  TRIPLET_MARGIN=0.3)
# Cluster-contrast warm-up of E_id; MOMENTUM and TEMPERATURE are those of the cluster centroids
# and of the cluster-contrast loss. NUM_INSTANCES: K of its P x K batches (0 = DATALOADER.
# NUM_INSTANCES); EPS: a fixed DBSCAN eps for this stage's clusterings (0 = the CLUSTER rule).
# Cluster-contrast's published recipe: K 16, eps 0.6, 200 iterations (400 on MSMT17).
_C.SOLVER.BASELINE = _stage_section(EPOCHS=50, ITERS_PER_EPOCH=400, BATCH_SIZE=256,
                                    LR_STEP_SIZE=20, MOMENTUM=0.1, TEMPERATURE=0.05,
                                    NUM_INSTANCES=0, EPS=0.0)
# E_str, G and D with L_gan only, E_id frozen (ITERS_PER_EPOCH 0: one pass over the data).
# RECONSTRUCTION_EPOCHS: the first epochs of the stage (counted in EPOCHS) train E_str + G on
# the L1 reconstruction of x'_ori alone, no D, with their own Adam at RECONSTRUCTION_LR
# (0 = the paper: L_gan from the first iteration), RECONSTRUCTION_ITERS_PER_EPOCH iterations
# each (0 = ITERS_PER_EPOCH; may exceed one pass over the training set).
_C.SOLVER.GAN_WARMUP = _stage_section(EPOCHS=40, **_GENERATIVE_KEYS, DECAY_GAN_LR=False,
                                      RECONSTRUCTION_EPOCHS=0, RECONSTRUCTION_LR=1e-3,
                                      RECONSTRUCTION_ITERS_PER_EPOCH=0)
# E_id, E_str, G and D with L_gan + the view-invariant losses; E_id's SGD has Nesterov momentum
# SGD_MOMENTUM. The paper decays G/D with E_id (DECAY_GAN_LR); the authors' public code never
# decays them. GAN_OPTIMIZER_STATE: the Adam states of E_str + G and D at the start of the stage:
# "fresh", or "warmup" = those the gan_warmup stage ended with (this run's, else the "optimizers"
# of MODEL.GENERATIVE_WEIGHTS), as the authors' code resumes stage 3 from stage 2's optimisers;
# the learning rates, betas and weight decays are this section's either way.
# ENCODER_OPTIMIZER: E_id's optimiser, "sgd" (the paper, with SGD_MOMENTUM) or "adam" (the
# baseline stage's Adam, at this section's LR and WEIGHT_DECAY).
_C.SOLVER.JOINT = _stage_section(EPOCHS=20, LR_STEPS=(10,), **_GENERATIVE_KEYS, DECAY_GAN_LR=True,
                                 SGD_MOMENTUM=0.9, GAN_OPTIMIZER_STATE="fresh",
                                 ENCODER_OPTIMIZER="sgd")
_C.SOLVER.CHECKPOINT_PERIOD = 1
# Epoch checkpoints kept per stage in OUTPUT_DIR/checkpoints: the newest N (an integer >= 0;
# 0 = keep every one). checkpoints/last.pth is a hard link to the newest file, not a copy.
_C.SOLVER.CHECKPOINT_KEEP_LAST = 3
# "fp32", "bf16": forward passes under bfloat16 autocast (parameters, losses and memories stay
# float32), about twice as fast on CPUs with AMX / AVX512-BF16 and on recent GPUs, "fp16": float16
# autocast with gradient scaling (torch.amp.GradScaler, its state checkpointed), CUDA only, for
# GPUs without bf16 (V100, T4, RTX 20xx), or "auto": bf16 where the device computes it in
# hardware, fp32 elsewhere (emulated bf16 on a CPU without AMX / AVX512-BF16 is about 20x slower
# than fp32; auto never picks fp16).
_C.SOLVER.PRECISION = "fp32"
# Channels-last memory format for E_id and the generative networks (faster convolutions on CPUs
# with oneDNN and on tensor-core GPUs, above all with bf16). Same weights and results up to rounding.
_C.SOLVER.CHANNELS_LAST = False
# Iterations between logged scalars (tensorboard) and, in the plain log, progress lines.
_C.SOLVER.LOG_PERIOD = 20
# "bar": a tqdm progress bar per epoch; "log": no bar, one plain line every LOG_PERIOD iterations
# (stage, epoch, iteration/total, losses, lr, it/s, ETA, peak GPU memory; the format is documented
# in common.logging.progress_line), for batch jobs; "auto": the bar when stdout is a terminal,
# the plain lines otherwise (e.g. stdout redirected to a file by a cluster scheduler).
_C.SOLVER.PROGRESS = "auto"

# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------
_C.TEST = CN()
_C.TEST.BATCH_SIZE = 128
# Average each feature with that of the mirrored image (the authors' protocol: no flip).
_C.TEST.FLIP = True
# cosine | euclidean
_C.TEST.METRIC = "cosine"
_C.TEST.RERANK = False
_C.TEST.RERANK_K1 = 20
_C.TEST.RERANK_K2 = 6
_C.TEST.RERANK_LAMBDA = 0.3
# Evaluate every N epochs during training (0 = only at the end). Reported, never used to select.
_C.TEST.EVAL_PERIOD = 0
# Fidelity of the generated views (reid.evaluation.view_fidelity): every epoch of gan_warmup and
# joint, on a fixed subset of training images, when the dataset has ground-truth novel views
# (the synthetic dataset); logged, in OUTPUT_DIR/view_fidelity.json and images/view_fidelity.png.
_C.TEST.VIEW_METRICS = CN()
# Training images scored (fixed subset, up to 4 per identity); 0 = off.
_C.TEST.VIEW_METRICS.IMAGES = 64
_C.TEST.VIEW_METRICS.BATCH_SIZE = 16


# ---------------------------------------------------------------------------------------------
# Export of the identity encoder at the end of training
# ---------------------------------------------------------------------------------------------
_C.EXPORT = CN()
_C.EXPORT.ENABLED = True
_C.EXPORT.FORMATS = ("state_dict", "torchscript", "onnx")


def get_cfg_defaults() -> CN:
    """A fresh copy of the defaults, safe to mutate."""
    return _C.clone()
