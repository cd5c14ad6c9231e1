"""Recognising ResNets in a program (stub)."""


def match_resnet(program):
    return None


def resnet_source(*a):
    raise NotImplementedError
