"""Every paper keras_kd cites, under the key its docstrings use (``crowley2018``, ``hinton2015``, ...).

``cite(key)`` formats one as ``"Authors (year). Title. Venue. arXiv:id"``; the README's References
section lists them all in that form.

Example:

>>> cite("zhang2018")
'Ying Zhang, Tao Xiang, Timothy M. Hospedales, Huchuan Lu (2018). Deep Mutual Learning. CVPR 2018. arXiv:1706.00384'
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Reference:
    """One cited paper.

    Args:
        key: the docstring key, first author's surname and year (``"hinton2015"``).
        authors: the authors' names, in the paper's order.
        title: the paper's title.
        venue: where it appeared (``"arXiv preprint"`` if only there).
        year: the year of the key (the arXiv year for a preprint).
        arxiv: the arXiv identifier (``"1503.02531"``), or None for a paper not on arXiv.
    """

    key: str
    authors: tuple
    title: str
    venue: str
    year: int
    arxiv: str

    def citation(self):
        """``"Authors (year). Title. Venue. arXiv:id"`` (no period after a title ending in ``?``; no
        arXiv part for a paper not there)."""
        title = self.title if self.title.endswith("?") else f"{self.title}."
        arxiv = "" if self.arxiv is None else f" arXiv:{self.arxiv}"
        return f"{', '.join(self.authors)} ({self.year}). {title} {self.venue}.{arxiv}"


_ENTRIES = [
    # The five seed papers the library implements.
    Reference("crowley2018", ("Elliot J. Crowley", "Gavin Gray", "Amos Storkey"),
              "Moonshine: Distilling with Cheap Convolutions", "NeurIPS 2018", 2018, "1711.02613"),
    Reference("jha2020", ("Nandan Kumar Jha", "Rajat Saini", "Sparsh Mittal"),
              "On the Demystification of Knowledge Distillation: A Residual Network Perspective",
              "arXiv preprint", 2020, "2006.16589"),
    Reference("li2021", ("Xuewei Li", "Songyuan Li", "Bourahla Omar", "Fei Wu", "Xi Li"),
              "ResKD: Residual-Guided Knowledge Distillation", "IEEE Transactions on Image Processing", 2021,
              "2006.04719"),
    Reference("tang2024", ("Shengji Tang", "Peng Ye", "Baopu Li", "Weihao Lin", "Tao Chen", "Tong He", "Chong Yu",
                           "Wanli Ouyang"),
              "Boosting Residual Networks with Group Knowledge", "AAAI 2024", 2024, "2308.13772"),
    Reference("yao2020", ("Anbang Yao", "Dawei Sun"), "Knowledge Transfer via Dense Cross-Layer Mutual-Distillation",
              "ECCV 2020", 2020, "2008.07816"),
    # Papers the docstrings cite beside them.
    Reference("ahn2019", ("Sungsoo Ahn", "Shell Xu Hu", "Andreas Damianou", "Neil D. Lawrence", "Zhenwen Dai"),
              "Variational Information Distillation for Knowledge Transfer", "CVPR 2019", 2019, "1904.05835"),
    Reference("ba2014", ("Lei Jimmy Ba", "Rich Caruana"), "Do Deep Nets Really Need to be Deep?", "NIPS 2014", 2014,
              "1312.6184"),
    Reference("chen2021", ("Pengguang Chen", "Shu Liu", "Hengshuang Zhao", "Jiaya Jia"),
              "Distilling Knowledge via Knowledge Review", "CVPR 2021", 2021, "2104.09044"),
    Reference("chollet2017", ("François Chollet",),
              "Xception: Deep Learning with Depthwise Separable Convolutions", "CVPR 2017", 2017, "1610.02357"),
    Reference("he2016", ("Kaiming He", "Xiangyu Zhang", "Shaoqing Ren", "Jian Sun"),
              "Deep Residual Learning for Image Recognition", "CVPR 2016", 2016, "1512.03385"),
    Reference("he2016b", ("Kaiming He", "Xiangyu Zhang", "Shaoqing Ren", "Jian Sun"),
              "Identity Mappings in Deep Residual Networks", "ECCV 2016", 2016, "1603.05027"),
    Reference("hinton2015", ("Geoffrey Hinton", "Oriol Vinyals", "Jeff Dean"),
              "Distilling the Knowledge in a Neural Network",
              "NIPS 2014 Deep Learning and Representation Learning Workshop", 2015, "1503.02531"),
    Reference("howard2017", ("Andrew G. Howard", "Menglong Zhu", "Bo Chen", "Dmitry Kalenichenko", "Weijun Wang",
                             "Tobias Weyand", "Marco Andreetto", "Hartwig Adam"),
              "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications", "arXiv preprint",
              2017, "1704.04861"),
    Reference("howard2019", ("Andrew Howard", "Mark Sandler", "Grace Chu", "Liang-Chieh Chen", "Bo Chen",
                             "Mingxing Tan", "Weijun Wang", "Yukun Zhu", "Ruoming Pang", "Vijay Vasudevan",
                             "Quoc V. Le", "Hartwig Adam"),
              "Searching for MobileNetV3", "ICCV 2019", 2019, "1905.02244"),
    Reference("huang2016", ("Gao Huang", "Yu Sun", "Zhuang Liu", "Daniel Sedra", "Kilian Q. Weinberger"),
              "Deep Networks with Stochastic Depth", "ECCV 2016", 2016, "1603.09382"),
    Reference("heo2019", ("Byeongho Heo", "Jeesoo Kim", "Sangdoo Yun", "Hyojin Park", "Nojun Kwak", "Jin Young Choi"),
              "A Comprehensive Overhaul of Feature Distillation", "ICCV 2019", 2019, "1904.01866"),
    Reference("heo2019a", ("Byeongho Heo", "Minsik Lee", "Sangdoo Yun", "Jin Young Choi"),
              "Knowledge Transfer via Distillation of Activation Boundaries Formed by Hidden Neurons", "AAAI 2019", 2019,
              "1811.03233"),
    Reference("huang2017", ("Zehao Huang", "Naiyan Wang"),
              "Like What You Like: Knowledge Distill via Neuron Selectivity Transfer", "arXiv preprint", 2017,
              "1707.01219"),
    Reference("huang2017a", ("Gao Huang", "Zhuang Liu", "Laurens van der Maaten", "Kilian Q. Weinberger"),
              "Densely Connected Convolutional Networks", "CVPR 2017", 2017, "1608.06993"),
    Reference("huang2022", ("Tao Huang", "Shan You", "Fei Wang", "Chen Qian", "Chang Xu"),
              "Knowledge Distillation from A Stronger Teacher", "NeurIPS 2022", 2022, "2205.10536"),
    Reference("li2019", ("Guilin Li", "Xing Zhang", "Zitong Wang", "Zhenguo Li", "Tong Zhang"),
              "StacNAS: Towards Stable and Consistent Differentiable Neural Architecture Search", "arXiv preprint",
              2019, "1909.11926"),
    Reference("li2023", ("Zheng Li", "Xiang Li", "Lingfeng Yang", "Borui Zhao", "Renjie Song", "Lei Luo", "Jun Li",
                         "Jian Yang"),
              "Curriculum Temperature for Knowledge Distillation", "AAAI 2023", 2023, "2211.16231"),
    Reference("kim2018", ("Jangho Kim", "SeongUk Park", "Nojun Kwak"),
              "Paraphrasing Complex Network: Network Compression via Factor Transfer", "NeurIPS 2018", 2018,
              "1802.04977"),
    Reference("liu2019", ("Hanxiao Liu", "Karen Simonyan", "Yiming Yang"), "DARTS: Differentiable Architecture Search",
              "ICLR 2019", 2019, "1806.09055"),
    Reference("ma2018", ("Ningning Ma", "Xiangyu Zhang", "Hai-Tao Zheng", "Jian Sun"),
              "ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design", "ECCV 2018", 2018,
              "1807.11164"),
    Reference("park2019", ("Wonpyo Park", "Dongju Kim", "Yan Lu", "Minsu Cho"),
              "Relational Knowledge Distillation", "CVPR 2019", 2019, "1904.05068"),
    Reference("passalis2018", ("Nikolaos Passalis", "Anastasios Tefas"),
              "Learning Deep Representations with Probabilistic Knowledge Transfer", "ECCV 2018", 2018, "1803.10837"),
    Reference("romero2015", ("Adriana Romero", "Nicolas Ballas", "Samira Ebrahimi Kahou", "Antoine Chassang",
                             "Carlo Gatta", "Yoshua Bengio"),
              "FitNets: Hints for Thin Deep Nets", "ICLR 2015", 2015, "1412.6550"),
    Reference("peng2019", ("Baoyun Peng", "Xiao Jin", "Jiaheng Liu", "Dongsheng Li", "Yichao Wu", "Yu Liu",
                           "Shunfeng Zhou", "Zhaoning Zhang"),
              "Correlation Congruence for Knowledge Distillation", "ICCV 2019", 2019, "1904.01802"),
    Reference("sandler2018", ("Mark Sandler", "Andrew Howard", "Menglong Zhu", "Andrey Zhmoginov", "Liang-Chieh Chen"),
              "MobileNetV2: Inverted Residuals and Linear Bottlenecks", "CVPR 2018", 2018, "1801.04381"),
    Reference("sun2024", ("Shangquan Sun", "Wenqi Ren", "Jingzhi Li", "Rui Wang", "Xiaochun Cao"),
              "Logit Standardization in Knowledge Distillation", "CVPR 2024", 2024, "2403.01427"),
    Reference("szegedy2016", ("Christian Szegedy", "Vincent Vanhoucke", "Sergey Ioffe", "Jonathon Shlens",
                              "Zbigniew Wojna"),
              "Rethinking the Inception Architecture for Computer Vision", "CVPR 2016", 2016, "1512.00567"),
    Reference("tian2020", ("Yonglong Tian", "Dilip Krishnan", "Phillip Isola"), "Contrastive Representation Distillation",
              "ICLR 2020", 2020, "1910.10699"),
    Reference("tung2019", ("Frederick Tung", "Greg Mori"),
              "Similarity-Preserving Knowledge Distillation", "ICCV 2019", 2019, "1907.09682"),
    Reference("yang2020", ("Taojiannan Yang", "Sijie Zhu", "Chen Chen"),
              "GradAug: A New Regularization Method for Deep Neural Networks", "NeurIPS 2020", 2020, "2006.07989"),
    Reference("ye2022", ("Peng Ye", "Shengji Tang", "Baopu Li", "Tao Chen", "Wanli Ouyang"),
              "Stimulative Training of Residual Networks: A Social Psychology Perspective of Loafing", "NeurIPS 2022",
              2022, "2210.04153"),
    Reference("yim2017", ("Junho Yim", "Donggyu Joo", "Jihoon Bae", "Junmo Kim"),
              "A Gift from Knowledge Distillation: Fast Optimization, Network Minimization and Transfer Learning",
              "CVPR 2017", 2017, None),
    Reference("zagoruyko2016", ("Sergey Zagoruyko", "Nikos Komodakis"), "Wide Residual Networks", "BMVC 2016", 2016,
              "1605.07146"),
    Reference("zagoruyko2017", ("Sergey Zagoruyko", "Nikos Komodakis"),
              "Paying More Attention to Attention: Improving the Performance of Convolutional Neural Networks via "
              "Attention Transfer", "ICLR 2017", 2017, "1612.03928"),
    Reference("zhang2018", ("Ying Zhang", "Tao Xiang", "Timothy M. Hospedales", "Huchuan Lu"), "Deep Mutual Learning",
              "CVPR 2018", 2018, "1706.00384"),
    Reference("zhang2018b", ("Xiangyu Zhang", "Xinyu Zhou", "Mengxiao Lin", "Jian Sun"),
              "ShuffleNet: An Extremely Efficient Convolutional Neural Network for Mobile Devices", "CVPR 2018",
              2018, "1707.01083"),
    Reference("zhao2022", ("Borui Zhao", "Quan Cui", "Renjie Song", "Yiyu Qiu", "Jiajun Liang"),
              "Decoupled Knowledge Distillation", "CVPR 2022", 2022, "2203.08679"),
]
REFERENCES = {reference.key: reference for reference in _ENTRIES}


def cite(key):
    """The citation of ``key``: ``"Authors (year). Title. Venue. arXiv:id"``.

    Args:
        key: a reference key (``"hinton2015"``).

    Raises:
        ValueError: naming ``key`` and listing the known keys when it is not one.
    """
    reference = REFERENCES.get(key) if isinstance(key, str) else None
    if reference is None:
        raise ValueError(f"Unknown reference key. Received: key={key!r}. Known keys: {sorted(REFERENCES)}")
    return reference.citation()
