"""A scripted pjsua2 caller (run as a subprocess): prints one JSON event per line.

Steps: wait:S, hold, resume, dtmf2833:DIGITS, dtmfinfo:DIGITS, hangup, waitend:S.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import pjsua2 as pj  # type: ignore[import-untyped]


def emit(event: str, **fields: object) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


class Call(pj.Call):  # type: ignore[misc]
    def __init__(self, acc: pj.Account) -> None:
        super().__init__(acc)
        self.state = ""

    def onCallState(self, prm: object) -> None:
        info = self.getInfo()
        self.state = info.stateText
        emit("state", state=info.stateText, code=info.lastStatusCode)

    def onCallMediaState(self, prm: object) -> None:
        info = self.getInfo()
        for i, media in enumerate(info.media):
            if media.type == pj.PJMEDIA_TYPE_AUDIO:
                emit("media", status=int(media.status), dir=int(media.dir))
                if media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                    aud = self.getAudioMedia(i)
                    pj.Endpoint.instance().audDevManager().getCaptureDevMedia().startTransmit(aud)

    def onCallTransferRequest(self, prm: pj.OnCallTransferRequestParam) -> None:
        emit("refer", target=prm.dstUri)

    def onCallTransferStatus(self, prm: pj.OnCallTransferStatusParam) -> None:
        emit("transfer_status", code=prm.statusCode, final=bool(prm.finalNotify))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("uri")
    ap.add_argument("steps", nargs="*")
    ap.add_argument("--tcp", action="store_true")
    args = ap.parse_args()
    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.logConfig.level = 0
    cfg.logConfig.consoleLevel = 0
    ep.libInit(cfg)
    tcfg = pj.TransportConfig()
    tcfg.port = 0
    tcfg.boundAddress = "127.0.0.1"
    ep.transportCreate(pj.PJSIP_TRANSPORT_TCP if args.tcp else pj.PJSIP_TRANSPORT_UDP, tcfg)
    ep.audDevManager().setNullDev()
    ep.libStart()
    acfg = pj.AccountConfig()
    acfg.idUri = "sip:pjsua@127.0.0.1"
    acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    acc = pj.Account()
    acc.create(acfg)
    call = Call(acc)
    call.makeCall(args.uri + (";transport=tcp" if args.tcp else ""), pj.CallOpParam(True))

    def pump(seconds: float, until: str = "") -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ep.libHandleEvents(10)
            if until and call.state == until:
                return

    pump(10, "CONFIRMED")
    emit("ready")
    for step in args.steps:
        name, _, arg = step.partition(":")
        if name == "wait":
            pump(float(arg))
        elif name == "hold":
            call.setHold(pj.CallOpParam(True))
        elif name == "resume":
            prm = pj.CallOpParam(True)
            prm.opt.flag = pj.PJSUA_CALL_UNHOLD
            call.reinvite(prm)
        elif name in ("dtmf2833", "dtmfinfo"):
            prm = pj.CallSendDtmfParam()
            prm.method = (
                pj.PJSUA_DTMF_METHOD_RFC2833
                if name == "dtmf2833"
                else pj.PJSUA_DTMF_METHOD_SIP_INFO
            )
            prm.digits = arg
            call.sendDtmf(prm)
        elif name == "hangup":
            call.hangup(pj.CallOpParam(True))
        elif name == "waitend":
            pump(float(arg), "DISCONNECTED")
        emit("step", step=name)
    pump(1.0, "DISCONNECTED")
    emit("done", state=call.state)
    ep.hangupAllCalls()
    pump(0.3)
    sys.stdout.flush()
    os._exit(0)  # pjsua2's teardown of the Python-owned Call object can abort


if __name__ == "__main__":
    main()
