"""The RTP pacer: ``stream`` (what one call sends, packet by packet), ``scheduler`` (the 20 ms
tick thread, ``RtpPacer``), ``process`` (the same pacer in a child process, ``ProcessPacer``)
and ``ipc`` (the frames between the two processes, ``RemoteStream``)."""
