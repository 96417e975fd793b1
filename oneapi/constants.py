"""Enumerations shared with One API's database: the numbers are stored in rows, so they never change."""

from enum import IntEnum


class Role(IntEnum):
    GUEST = 0
    COMMON = 1
    ADMIN = 10
    ROOT = 100


class UserStatus(IntEnum):
    ENABLED = 1
    DISABLED = 2
    DELETED = 3


class TokenStatus(IntEnum):
    ENABLED = 1
    DISABLED = 2
    EXPIRED = 3
    EXHAUSTED = 4


class ChannelStatus(IntEnum):
    UNKNOWN = 0
    ENABLED = 1
    MANUALLY_DISABLED = 2
    AUTO_DISABLED = 3


class RedemptionStatus(IntEnum):
    ENABLED = 1
    DISABLED = 2
    USED = 3


class LogType(IntEnum):
    UNKNOWN = 0
    TOPUP = 1
    CONSUME = 2
    MANAGE = 3
    SYSTEM = 4
    TEST = 5


class RelayMode(IntEnum):
    UNKNOWN = 0
    CHAT = 1
    COMPLETIONS = 2
    EMBEDDINGS = 3
    MODERATIONS = 4
    IMAGES = 5
    EDITS = 6
    AUDIO_SPEECH = 7
    AUDIO_TRANSCRIPTION = 8
    AUDIO_TRANSLATION = 9
    PROXY = 10
    # A front door's own format sent natively to a channel that speaks it (the others get it as CHAT).
    MESSAGES = 11  # Anthropic Messages
    RESPONSES = 12  # OpenAI Responses
    GEMINI = 13  # Gemini generateContent


class ChannelType(IntEnum):
    UNKNOWN = 0
    OPENAI = 1
    API2D = 2
    AZURE = 3
    CLOSEAI = 4
    OPENAI_SB = 5
    OPENAI_MAX = 6
    OHMYGPT = 7
    CUSTOM = 8
    AILS = 9
    AIPROXY = 10
    PALM = 11
    API2GPT = 12
    AIGC2D = 13
    ANTHROPIC = 14
    BAIDU = 15
    ZHIPU = 16
    ALI = 17
    XUNFEI = 18
    AI360 = 19
    OPENROUTER = 20
    AIPROXY_LIBRARY = 21
    FASTGPT = 22
    TENCENT = 23
    GEMINI = 24
    MOONSHOT = 25
    BAICHUAN = 26
    MINIMAX = 27
    MISTRAL = 28
    GROQ = 29
    OLLAMA = 30
    LINGYIWANWU = 31
    STEPFUN = 32
    AWS_CLAUDE = 33
    COZE = 34
    COHERE = 35
    DEEPSEEK = 36
    CLOUDFLARE = 37
    DEEPL = 38
    TOGETHER_AI = 39
    DOUBAO = 40
    NOVITA = 41
    VERTEX_AI = 42
    PROXY = 43
    SILICONFLOW = 44
    XAI = 45
    REPLICATE = 46
    BAIDU_V2 = 47
    XUNFEI_V2 = 48
    ALI_BAILIAN = 49
    OPENAI_COMPATIBLE = 50
    GEMINI_OPENAI_COMPATIBLE = 51


# (UI name, default base URL), as One API shows and uses them.
CHANNEL_TYPE_INFO: dict[ChannelType, tuple[str, str]] = {
    ChannelType.UNKNOWN: ("Unknown", ""),
    ChannelType.OPENAI: ("OpenAI", "https://api.openai.com"),
    ChannelType.API2D: ("代理：API2D", "https://oa.api2d.net"),
    ChannelType.AZURE: ("Azure", ""),
    ChannelType.CLOSEAI: ("代理：CloseAI", "https://api.closeai-proxy.xyz"),
    ChannelType.OPENAI_SB: ("代理：OpenAI-SB", "https://api.openai-sb.com"),
    ChannelType.OPENAI_MAX: ("代理：OpenAI Max", "https://api.openaimax.com"),
    ChannelType.OHMYGPT: ("代理：OhMyGPT", "https://api.ohmygpt.com"),
    ChannelType.CUSTOM: ("自定义渠道", ""),
    ChannelType.AILS: ("代理：AI.LS", "https://api.caipacity.com"),
    ChannelType.AIPROXY: ("代理：AI Proxy", "https://api.aiproxy.io"),
    ChannelType.PALM: ("PaLM2", "https://generativelanguage.googleapis.com"),
    ChannelType.API2GPT: ("代理：API2GPT", "https://api.api2gpt.com"),
    ChannelType.AIGC2D: ("代理：AIGC2D", "https://api.aigc2d.com"),
    ChannelType.ANTHROPIC: ("Anthropic", "https://api.anthropic.com"),
    ChannelType.BAIDU: ("百度文心千帆", "https://aip.baidubce.com"),
    ChannelType.ZHIPU: ("智谱 ChatGLM", "https://open.bigmodel.cn"),
    ChannelType.ALI: ("阿里通义千问", "https://dashscope.aliyuncs.com"),
    ChannelType.XUNFEI: ("讯飞星火认知", "wss://spark-api.xf-yun.com"),
    ChannelType.AI360: ("360 智脑", "https://ai.360.cn"),
    ChannelType.OPENROUTER: ("OpenRouter", "https://openrouter.ai/api"),
    ChannelType.AIPROXY_LIBRARY: ("知识库：AI Proxy", "https://api.aiproxy.io"),
    ChannelType.FASTGPT: ("知识库：FastGPT", "https://fastgpt.run/api/openapi"),
    ChannelType.TENCENT: ("腾讯混元", "https://hunyuan.tencentcloudapi.com"),
    ChannelType.GEMINI: ("Gemini", "https://generativelanguage.googleapis.com"),
    ChannelType.MOONSHOT: ("Moonshot AI", "https://api.moonshot.cn"),
    ChannelType.BAICHUAN: ("百川大模型", "https://api.baichuan-ai.com"),
    ChannelType.MINIMAX: ("MiniMax", "https://api.minimax.chat"),
    ChannelType.MISTRAL: ("Mistral AI", "https://api.mistral.ai"),
    ChannelType.GROQ: ("Groq", "https://api.groq.com/openai"),
    ChannelType.OLLAMA: ("Ollama", "http://localhost:11434"),
    ChannelType.LINGYIWANWU: ("零一万物", "https://api.lingyiwanwu.com"),
    ChannelType.STEPFUN: ("阶跃星辰", "https://api.stepfun.com"),
    ChannelType.AWS_CLAUDE: ("AWS", ""),
    ChannelType.COZE: ("Coze", "https://api.coze.com"),
    ChannelType.COHERE: ("Cohere", "https://api.cohere.ai"),
    ChannelType.DEEPSEEK: ("DeepSeek", "https://api.deepseek.com"),
    ChannelType.CLOUDFLARE: ("Cloudflare", "https://api.cloudflare.com"),
    ChannelType.DEEPL: ("DeepL", "https://api-free.deepl.com"),
    ChannelType.TOGETHER_AI: ("together.ai", "https://api.together.xyz"),
    ChannelType.DOUBAO: ("字节火山引擎", "https://ark.cn-beijing.volces.com"),
    ChannelType.NOVITA: ("Novita", "https://api.novita.ai/v3/openai"),
    ChannelType.VERTEX_AI: ("VertexAI", ""),
    ChannelType.PROXY: ("Proxy", ""),
    ChannelType.SILICONFLOW: ("SiliconFlow", "https://api.siliconflow.cn"),
    ChannelType.XAI: ("xAI", "https://api.x.ai"),
    ChannelType.REPLICATE: ("Replicate", "https://api.replicate.com/v1/models/"),
    ChannelType.BAIDU_V2: ("百度文心千帆 V2", "https://qianfan.baidubce.com"),
    ChannelType.XUNFEI_V2: ("讯飞星火认知 V2", "https://spark-api-open.xf-yun.com"),
    ChannelType.ALI_BAILIAN: ("阿里云百炼", "https://dashscope.aliyuncs.com"),
    ChannelType.OPENAI_COMPATIBLE: ("OpenAI 兼容", ""),
    ChannelType.GEMINI_OPENAI_COMPATIBLE: ("Gemini (OpenAI)", "https://generativelanguage.googleapis.com/v1beta/openai/"),
}


def default_base_url(channel_type: int) -> str:
    try:
        return CHANNEL_TYPE_INFO[ChannelType(channel_type)][1]
    except ValueError:
        return ""
