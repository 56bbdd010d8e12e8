"""Differentiable architecture search in the DARTS / STACNAS space (liu2019, li2019), for li2021's
searched res-students (eq. 6-7)."""

from keras_kd.nas.cells import Cell, MixedEdge, SearchCell
from keras_kd.nas.drop_path import DropPathSchedule
from keras_kd.nas.genotype import (
    DARTS_V2, STACNAS_CATEGORIES, STACNAS_STAGE1, Genotype, category_primitives, derive_cell, edge_count,
    edge_inputs,
)
from keras_kd.nas.networks import SuperNet, darts_network
from keras_kd.nas.operations import PRIMITIVES, DilConv, FactorizedReduce, Pool3x3, ReLUConvBN, SepConv, Zero
from keras_kd.nas.search import AlternatingBatches, ResStudentSearch, SearchOptimizers, stacnas_optimizers
