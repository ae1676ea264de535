-- wrk script: POST a valid start.informer_call; token and number come from the environment.
local token = os.getenv("VESTNIK_BENCH_TOKEN")
local number = os.getenv("VESTNIK_BENCH_VPN") or "74993720692"
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json; charset=UTF-8"
wrk.body = '{"jsonrpc":"2.0","id":"bench","method":"start.informer_call","params":{' ..
  '"access_token":"' .. token .. '","virtual_phone_number":"' .. number .. '",' ..
  '"external_id":"bench","dtmf_string":"1.2","contact":"79260000000","dialing_timeout":25,' ..
  '"contact_message":{"type":"tts","value":"Ваш заказ готов к выдаче"}}}'
